// Forward-auth check rate against the JWKS rate of the same run (issue: the check of a signed-in request must reach
// at least 0.9 × JWKS, p99 ≤ 10 ms at 10 connections). Standalone: `npm run build && node bench/forward-auth.mjs [seconds]`.
// One Accouch on loopback, one user and one app seeded through the CLI, a browser session made through the real
// pages (/forward-auth/start → sign-in → the app host's code → cookie), then JWKS and the check, alternately.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from './lib/browser.mjs';
import { userPassword } from './lib/accouch.mjs';
import { measure } from './lib/load.mjs';
import { freePort, runCli, startProcess, stopProcess } from './lib/processes.mjs';
import { mainJs } from './lib/processes.mjs';

const seconds = Number(process.argv[2] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'accouch-bench-fa-'));
const port = await freePort();
const env = {
  ACCOUCH_ISSUER: `http://localhost:${port}`, ACCOUCH_HOST: '127.0.0.1', ACCOUCH_PORT: String(port), ACCOUCH_DATA_DIR: join(dir, 'data'),
  ACCOUCH_LOG_LEVEL: 'info', ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1',
};
const appHost = 'media.apps.test';
runCli(env, ['app', 'add', 'forward-auth', '--url', `https://${appHost}`, '--id', 'media', '--groups', 'family']);
runCli(env, ['user', 'add', 'bench', '--name', 'Bench', '--groups', 'family', '--password-stdin'], userPassword);
const server = await startProcess({ name: 'accouch', args: [mainJs, 'serve'], env, port, readyPath: '/readyz', logFile: join(dir, 'accouch.log') });
const origin = `http://127.0.0.1:${port}`;
try {
  // The browser's way in: start → lock screen → password → back to the app host with a single-use code.
  const agent = new Agent(origin);
  let { res, offsite } = await agent.follow(await agent.request(`/forward-auth/start?rd=${encodeURIComponent(`https://${appHost}/`)}`));
  const page = await res.text();
  const action = page.match(/action="([^"]*\/password)"/)?.[1];
  if (!action) throw new Error(`no password form: ${res.status} ${page.slice(0, 200)}`);
  ({ offsite } = await agent.follow(await agent.post(action.replace(/&amp;/g, '&'), { username: 'bench', password: userPassword })));
  if (offsite?.host !== appHost) throw new Error(`sign-in did not come back to the app: ${offsite}`);
  const asProxy = (uri) => ({ 'x-forwarded-proto': 'https', 'x-forwarded-host': appHost, 'x-forwarded-uri': uri, 'x-forwarded-for': '192.168.1.20', accept: 'text/html', 'sec-fetch-mode': 'navigate' });
  const traded = await fetch(`${origin}/forward-auth/traefik`, { redirect: 'manual', headers: asProxy(offsite.pathname + offsite.search) });
  const cookie = traded.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`no cookie for the app host: ${traded.status}`);

  const jwks = { name: 'JWKS', requests: [{ method: 'GET', path: '/jwks' }] };
  const check = {
    name: 'forward-auth check (signed in)',
    expect: (status) => status === 200,
    requests: [{ method: 'GET', path: '/forward-auth/traefik', headers: { ...asProxy('/library?page=2'), cookie } }],
  };
  const timing = { warmup: 2, duration: seconds, pid: server.pid };
  const rows = [];
  for (const scenario of [jwks, check, jwks, check]) rows.push(await measure(origin, scenario, timing));
  const best = (name) => rows.filter((r) => r.name === name).sort((a, b) => b.rate - a.rate)[0];
  const j = best('JWKS');
  const c = best(check.name);
  for (const r of [j, c]) console.log(`${r.name.padEnd(32)} ${r.rate.toFixed(0).padStart(6)}/s  p99 ${r.latency.p99.toFixed(1)} ms  cpu ${r.cpuMsPerOp?.toFixed(3)} ms/op  bad ${r.bad}`);
  const ratio = c.rate / j.rate;
  console.log(`ratio ${ratio.toFixed(2)} (target ≥ 0.9), p99 ${c.latency.p99.toFixed(1)} ms (target ≤ 10 ms): ${ratio >= 0.9 && c.latency.p99 <= 10 && c.bad === 0 ? 'met' : 'MISSED'}`);
} finally {
  await stopProcess(server);
  rmSync(dir, { recursive: true, force: true });
}
