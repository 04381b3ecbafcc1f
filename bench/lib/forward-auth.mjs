// The proxies' forward-auth check (issue 12): Traefik, Caddy and nginx ask it before every request to a protected
// app, so a signed-in check must cost about what a static answer costs: ≥ 0.9 × the JWKS rate of the same server,
// p99 ≤ 10 ms at 10 connections. One Accouch of its own (one user and one app through the CLI, the proxy trusted),
// a session made through the real pages (/forward-auth/start → password → the app host's single-use code →
// cookie), then JWKS and the check in turns, twice each; the better run of each counts. With `profile`, once more
// under --cpu-prof: where each spends its CPU.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { accouchEnv, startAccouch, userPassword } from './accouch.mjs';
import { Agent } from './browser.mjs';
import { measure } from './load.mjs';
import { freePort, runCli, stopProcess } from './processes.mjs';
import { monotonicUs, summariseProfile } from './profile.mjs';

const appHost = 'media.apps.test';
const checkName = 'forward-auth check (signed in)';

/** What Traefik sends for a page of the app (ForwardAuth with trustForwardHeader). */
const asProxy = (uri) => ({
  'x-forwarded-proto': 'https', 'x-forwarded-host': appHost, 'x-forwarded-uri': uri, 'x-forwarded-for': '192.168.1.20',
  accept: 'text/html', 'sec-fetch-mode': 'navigate',
});

/** Signs `bench` in the way a browser does and returns the cookie the app host's check then gets. */
async function signedInCookie(origin) {
  const agent = new Agent(origin);
  let { res, offsite } = await agent.follow(await agent.request(`/forward-auth/start?rd=${encodeURIComponent(`https://${appHost}/`)}`));
  const page = await res.text();
  const action = page.match(/action="([^"]*\/password)"/)?.[1];
  if (!action) throw new Error(`forward-auth bench: no password form: ${res.status} ${page.slice(0, 200)}`);
  ({ offsite } = await agent.follow(await agent.post(action.replace(/&amp;/g, '&'), { username: 'bench', password: userPassword })));
  if (offsite?.host !== appHost) throw new Error(`forward-auth bench: the sign-in did not come back to the app: ${offsite}`);
  const traded = await fetch(`${origin}/forward-auth/traefik`, { redirect: 'manual', headers: asProxy(offsite.pathname + offsite.search) });
  const cookie = traded.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`forward-auth bench: no cookie for the app host: ${traded.status}`);
  return cookie;
}

const scenarios = (cookie) => ({
  jwks: { name: 'JWKS', requests: [{ method: 'GET', path: '/jwks' }] },
  check: { name: checkName, requests: [{ method: 'GET', path: '/forward-auth/traefik', headers: { ...asProxy('/library?page=2'), cookie } }] },
});

/** Measures the check against JWKS on a fresh Accouch in `tmp`; `timing` as measure() takes it. */
export async function forwardAuthRun({ tmp, logDir, timing, profile = false, progress = () => {} }) {
  const dataDir = join(tmp, 'forward-auth');
  const port = await freePort();
  const env = accouchEnv(dataDir, port);
  runCli(env, ['app', 'add', 'forward-auth', '--url', `https://${appHost}`, '--id', 'media', '--groups', 'family']);
  runCli(env, ['user', 'add', 'bench', '--name', 'Bench', '--groups', 'family', '--password-stdin'], userPassword);
  const trusted = { ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1' };

  const result = { rows: [], profile: undefined };
  let server = await startAccouch({ dataDir, port, logDir, label: 'forward-auth', env: trusted });
  try {
    const origin = `http://127.0.0.1:${port}`;
    const { jwks, check } = scenarios(await signedInCookie(origin));
    progress('forward-auth check against JWKS, on one Accouch, in turns');
    for (const scenario of [jwks, check, jwks, check]) result.rows.push(await measure(origin, scenario, { ...timing, pid: server.pid }));
    await stopProcess(server);

    if (profile) {
      progress('forward-auth check and JWKS under --cpu-prof');
      const profDir = join(tmp, 'forward-auth-profile');
      server = await startAccouch({ dataDir, port, logDir, label: 'forward-auth-profile', env: trusted, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
      const windows = {};
      for (const [key, scenario] of Object.entries(scenarios(await signedInCookie(origin)))) {
        let from;
        await measure(origin, scenario, { warmup: 1, duration: 3, pid: server.pid, beforeMeasure: () => { from = monotonicUs(); } });
        windows[key] = [from, monotonicUs()];
      }
      await stopProcess(server);
      const file = join(profDir, readdirSync(profDir)[0]);
      // Every package kept: the idle share is read from them.
      result.profile = Object.fromEntries(Object.entries(windows).map(([key, window]) => [key, summariseProfile(file, 100, [window])]));
    }
  } finally {
    await stopProcess(server);
  }
  return result;
}

const best = (result, name) => result.rows.filter((r) => r.name === name).sort((a, b) => b.rate - a.rate)[0];

/** The check's two targets. */
export function forwardAuthTargets(result, target) {
  if (!result?.rows.length) return [];
  const j = best(result, 'JWKS');
  const c = best(result, checkName);
  // A failed answer fails both: a fast refusal is no check.
  const failed = c.bad || j.bad ? `, ${c.bad + j.bad} failed` : '';
  return [
    target(`${checkName} vs JWKS (same server)`, `${Math.round(c.rate)} vs ${Math.round(j.rate)} req/s${failed}`, failed ? 0 : c.rate / j.rate, '≥', 0.9, 'ratio'),
    target(`p99 latency, ${checkName} (${c.connections} connections)`, `${c.latency.p99.toFixed(1)} ms${failed}`, failed ? Infinity : c.latency.p99, '≤', 10, 'ms'),
  ].map((t) => ({ ...t, forwardAuth: true }));
}

const pct = (x) => `${Math.round(x * 100)}%`;
const idleOf = (summary) => summary.packages.find((x) => x.name === '(idle)')?.share ?? 0;

export function renderForwardAuth(result) {
  if (result?.skipped) return `\n## Forward-auth check\n\nNot measured: ${result.skipped}.\n`;
  if (!result?.rows.length) return '';
  const row = (r) => `| ${r.name} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.latency.p50.toFixed(1)} | ${r.latency.p99.toFixed(1)} | ${r.cpuMsPerOp.toFixed(3)} | ${r.bad} |`;
  const p = result.profile;
  const top = (s) => s.functions.slice(0, 6).map((x) => `\`${x.name}\` ${pct(x.share)}`).join(', ');
  const profile = p ? `
Under \`--cpu-prof\` (self time, each restricted to its measured window):

- JWKS: ${p.jwks.packages.slice(0, 5).map((x) => `${x.name} ${pct(x.share)}`).join(', ')}. Top functions: ${top(p.jwks)}.
- The check: ${p.check.packages.slice(0, 5).map((x) => `${x.name} ${pct(x.share)}`).join(', ')}. Top functions: ${top(p.check)}.

The server's event loop sat idle for ${pct(idleOf(p.jwks))} of the JWKS run and ${pct(idleOf(p.check))} of the check's: where it idles, the load
generator (one thread of the bench process, on the same cores) is what sets the rate, not the server.
` : '';
  return `
## Forward-auth check

\`bench/lib/forward-auth.mjs\`: an Accouch of its own, one member and one forward-auth app added through the CLI,
127.0.0.1 trusted as the proxy, a session made through the real pages (\`/forward-auth/start\`, the password, the app
host's single-use code traded for its cookie). Then Traefik's request for a page of the app, signed in, against
\`/jwks\` of the same server: two runs each, in turns; the better of each counts. JWKS is sent from memory, its bytes
made once per key set: what any request costs in Node's HTTP server and the kernel. The check reads the session and
the app (cached until the database changes) and decides as every door does.

| Scenario | req/s | p50 ms | p99 ms | CPU ms/op | failed |
| --- | ---: | ---: | ---: | ---: | ---: |
${result.rows.map(row).join('\n')}
${profile}`;
}
