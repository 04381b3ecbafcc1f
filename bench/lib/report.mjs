// Turns a bench run into the targets of issues 7, 12 and 13 (each a ratio with PASS/MISS and by how much) and into
// bench/results.md: machine, Node version, date, every figure, the baselines and the ratios.
import { forwardAuthTargets, renderForwardAuth } from './forward-auth.mjs';
import { renderSlowDisk, slowDiskTargets } from './slow-disk.mjs';

const ACC = 'Accouch';
const BARE = 'bare oidc-provider';
const HYDRA = 'Ory Hydra';
const REFRESH = 'token: refresh_token';
const CODE = 'token: authorization_code';
const CC = 'token: client_credentials';
const LOGIN_PAGE = 'login page render';

const f0 = (x) => (x === undefined || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2));
const pct = (x) => `${Math.round(x * 100)}%`;
const idle = (r) => (r?.machineIdle === undefined ? '–' : pct(r.machineIdle));

const rowOf = (rows, system, name) => rows.find((r) => r.system === system && r.name === name);

/** A target "ratio ≥ limit" (more is better) or "ratio ≤ limit" (less is better). */
export function target(name, measured, ratio, op, limit, basis) {
  const pass = op === '≥' ? ratio >= limit : ratio <= limit;
  let gap = '';
  if (!pass) {
    gap = op === '≥'
      ? `missed by ${pct(1 - ratio / limit)} (needs ${f2(limit / ratio)}× more)`
      : `over by ${pct(ratio / limit - 1)}`;
  }
  return { name, measured, ratio, op, limit, basis, pass, gap };
}

export function evaluateTargets(R) {
  const rows = R.scenarios;
  const acc = (n) => rowOf(rows, ACC, n);
  const bare = (n) => rowOf(rows, BARE, n);
  const t = [];
  for (const n of [REFRESH, CODE]) {
    t.push(target(`${n} vs bare engine`, `${f0(acc(n).rate)} vs ${f0(bare(n).rate)} req/s`, acc(n).rate / bare(n).rate, '≥', 0.8, 'ratio'));
    t.push(target(`${n} vs RS256 signing rate`, `${f0(acc(n).rate)} vs ${f0(R.sign.perSecond)} signs/s`, acc(n).rate / R.sign.perSecond, '≥', 0.4, 'ratio'));
  }
  for (const n of [CC, 'userinfo', 'introspection']) {
    t.push(target(`${n} vs bare engine`, `${f0(acc(n).rate)} vs ${f0(bare(n).rate)} req/s`, acc(n).rate / bare(n).rate, '≥', 0.8, 'ratio'));
  }
  // CPU per request: steadier than the rate on a shared machine, and blind to time spent waiting for the disk.
  for (const n of [REFRESH, CODE, CC, 'userinfo', 'introspection']) {
    t.push(target(`${n}: CPU ms/op vs bare engine`, `${f2(acc(n).cpuMsPerOp)} vs ${f2(bare(n).cpuMsPerOp)} ms`, acc(n).cpuMsPerOp / bare(n).cpuMsPerOp, '≤', 1.3, 'ratio'));
  }
  for (const n of ['discovery', 'JWKS']) {
    t.push(target(`${n} vs bare engine`, `${f0(acc(n).rate)} vs ${f0(bare(n).rate)} req/s`, acc(n).rate / bare(n).rate, '≥', 0.9, 'ratio'));
  }
  const m = R.memory;
  t.push(target('idle RSS vs bare engine idle RSS', `${f1(m.accouchIdle)} vs ${f1(m.bareIdle)} MiB`, m.accouchIdle / m.bareIdle, '≤', 1.2, 'ratio'));
  t.push(target('peak RSS under token load vs Accouch idle RSS', `${f1(m.accouchTokenPeak)} vs ${f1(m.accouchIdle)} MiB`, m.accouchTokenPeak / m.accouchIdle, '≤', 2, 'ratio'));
  const b = R.boot;
  t.push(target('time to /readyz (warm data dir) vs bare engine time to listen', `${f0(b.accouchWarmMedian)} vs ${f0(b.bareMedian)} ms`, b.accouchWarmMedian / b.bareMedian, '≤', 1.5, 'ratio'));
  for (const n of [REFRESH, CODE, CC]) {
    t.push(target(`p99 latency, ${n} (${acc(n).connections} connections)`, `${f1(acc(n).latency.p99)} ms`, acc(n).latency.p99, '≤', 50, 'ms'));
  }
  t.push(...slowDiskTargets(R.slowDisk, target));
  t.push(...forwardAuthTargets(R.forwardAuth, target));
  if (R.scaling) {
    const [small, large] = R.scaling;
    for (const n of [REFRESH, CODE]) {
      const a = small.rows.find((r) => r.name === n);
      const z = large.rows.find((r) => r.name === n);
      t.push(target(`scaling: ${n}, 1,000 users + 10,000 grants vs 10 users`, `${f0(z.rate)} vs ${f0(a.rate)} req/s`, z.rate / a.rate, '≥', 0.8, 'ratio'));
    }
    // Issue 13: the "Who is signing in?" page shows recent members and a search, never a thousand tiles.
    const a = small.rows.find((r) => r.name === LOGIN_PAGE);
    const z = large.rows.find((r) => r.name === LOGIN_PAGE);
    if (a && z) t.push(target('scaling: "Who is signing in?" page, 1,000 users vs 10', `${f0(z.rate)} vs ${f0(a.rate)} pages/s`, z.rate / a.rate, '≥', 0.8, 'ratio'));
  }
  return t;
}

function scenarioTable(R) {
  const names = [...new Set(R.scenarios.map((r) => r.name))];
  const lines = [
    '| Scenario | Accouch req/s | p50 ms | p99 ms | CPU ms/op | bare engine req/s | p50 ms | p99 ms | CPU ms/op | Accouch / bare |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of names) {
    const a = rowOf(R.scenarios, ACC, n);
    const b = rowOf(R.scenarios, BARE, n);
    const cell = (r) => (r ? [f0(r.rate) + (r.bad ? ` (${r.bad} failed)` : ''), f1(r.latency.p50), f1(r.latency.p99), f2(r.cpuMsPerOp)] : ['n/a', '', '', '']);
    lines.push(`| ${n} | ${cell(a).join(' | ')} | ${cell(b).join(' | ')} | ${a && b ? f2(a.rate / b.rate) : '–'} |`);
  }
  return lines.join('\n');
}

/** Where each request's CPU went, by thread, for the scenarios that write (Accouch) and their bare-engine pairs. */
function threadTable(R) {
  const names = [REFRESH, CODE, CC, 'userinfo', 'introspection'];
  const rows = R.scenarios.filter((r) => names.includes(r.name) && r.threadMsPerOp);
  if (!rows.length) return '';
  const lines = [
    'CPU ms per request by thread (from /proc/<pid>/task during the measured run): the event loop, worker threads (Accouch\'s',
    'SQLite writer), libuv\'s pool (signing, hashing) and V8\'s helpers (garbage collection, compilation). Machine idle: the share',
    'of both cores\' time (from /proc/stat, during the system\'s own runs) that no process used, the load generator included.',
    '',
    '| Scenario | System | event loop | worker threads | libuv pool | V8 helpers | total | machine idle |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const t = r.threadMsPerOp;
    lines.push(`| ${r.name} | ${r.system} | ${f2(t.main)} | ${f2(t.worker)} | ${f2(t.pool)} | ${f2(t.v8)} | ${f2(r.cpuMsPerOp)} | ${idle(r)} |`);
  }
  return lines.join('\n');
}

/**
 * refresh_token and client_credentials again with three times the connections (Accouch and the engine, alternating):
 * information next to the targets, which are measured at the bench's connections.
 */
function capacitySection(R) {
  const c = R.capacity;
  if (!c?.rows.length) return '';
  const lines = [
    `refresh_token and client_credentials again with ${c.connections} connections instead of ${R.settings.connections}, Accouch and the bare engine in`,
    `alternating slices, after the client_credentials run above. Not a target (the targets are measured at ${R.settings.connections} connections).`,
    'More requests in flight share each commit, fsync and wake-up of Accouch\'s writer thread, so each costs less; the',
    'engine has no such cost to share. Cores: the server\'s CPU time over its own runs\' time (its threads together);',
    'machine idle as in the table above.',
    '',
    '| Scenario | connections | Accouch req/s | CPU ms/op | cores | machine idle | bare engine req/s | CPU ms/op | cores | machine idle | rate Accouch / bare | CPU Accouch / bare |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of [...new Set(c.rows.map((r) => r.name))]) {
    for (const [rows, k] of [[R.scenarios, R.settings.connections], [c.rows, c.connections]]) {
      const a = rowOf(rows, ACC, n);
      const b = rowOf(rows, BARE, n);
      if (!a || !b) continue;
      lines.push(`| ${n} | ${k} | ${f0(a.rate)} | ${f2(a.cpuMsPerOp)} | ${f2(a.cpuShare)} | ${idle(a)} | ${f0(b.rate)} | ${f2(b.cpuMsPerOp)} | ${f2(b.cpuShare)} | ${idle(b)} | ${f2(a.rate / b.rate)} | ${f2(a.cpuMsPerOp / b.cpuMsPerOp)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function targetTable(targets) {
  const lines = ['| Target | Measured | Ratio | Limit | Result |', '| --- | --- | ---: | ---: | --- |'];
  for (const t of targets) {
    const ratio = t.basis === 'ms' ? `${f1(t.ratio)} ms` : f2(t.ratio);
    const limit = t.basis === 'ms' ? `${t.op} ${t.limit} ms` : `${t.op} ${t.limit}`;
    lines.push(`| ${t.name} | ${t.measured} | ${ratio} | ${limit} | ${t.pass ? 'PASS' : `**MISS**: ${t.gap}`} |`);
  }
  return lines.join('\n');
}

/** Accouch / Hydra for the token scenarios, in one line; or why Hydra was not measured. */
function hydraLine(R) {
  if (!R.hydra || R.hydra.skipped) return `Ory Hydra: not measured (${R.hydra?.skipped ?? 'not run'})`;
  const ratios = [REFRESH, CODE, CC].map((n) => {
    const a = rowOf(R.scenarios, ACC, n);
    const h = rowOf(R.scenarios, HYDRA, n);
    return `${n.replace('token: ', '')} ${a && h ? f2(a.rate / h.rate) : '–'}`;
  });
  return `Accouch / Ory Hydra ${R.hydra.version}: ${ratios.join(', ')}`;
}

/** The console summary. */
export function renderTable(R, targets) {
  return `\n${scenarioTable(R)}\n\n${hydraLine(R)}\n\nRS256 signing, one core: ${f0(R.sign.perSecond)}/s\n\n${targetTable(targets)}\n`;
}

function hydraSection(R) {
  const h = R.hydra;
  if (!h) return '';
  if (h.skipped) {
    return `## Second peer: Ory Hydra ${h.version}\n\nNot measured in this run: ${h.skipped}. The rest of the run is unaffected.\n`;
  }
  const names = [...new Set(R.scenarios.filter((r) => r.system === HYDRA).map((r) => r.name))];
  const lines = [
    '| Scenario | Hydra req/s | p50 ms | p99 ms | CPU ms/op (Hydra + PostgreSQL) | Accouch req/s | Accouch / Hydra | bare engine / Hydra |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...names.map((n) => {
      const x = rowOf(R.scenarios, HYDRA, n);
      const a = rowOf(R.scenarios, ACC, n);
      const b = rowOf(R.scenarios, BARE, n);
      const ratio = (r) => (r ? f2(r.rate / x.rate) : '–');
      const token = n.startsWith('token:') ? '**' : '';
      return `| ${n} | ${f0(x.rate)}${x.bad ? ` (${x.bad} failed)` : ''} | ${f1(x.latency.p50)} | ${f1(x.latency.p99)} | ${f2(x.cpuMsPerOp)} | ${a ? f0(a.rate) : '–'} | ${token}${ratio(a)}${token} | ${ratio(b)} |`;
    }),
  ];
  const mint = R.minting?.find((m) => m.system === HYDRA);
  return `## Second peer: Ory Hydra ${h.version}

Measured in the same run, interleaved with Accouch and the bare engine as they are with each other (no target yet: the
Accouch / Hydra figures of the token scenarios are for the next goal).

${lines.join('\n')}

- Built by the bench from the Go module proxy at ${h.version} (\`go get -tool github.com/ory/hydra/v2@${h.version}\` in a
  generated module in ~/.cache/accouch-test-tools/hydra-${h.version}/, with Hydra's replace of gobuffalo/pop by Ory's
  fork, \`-tags sqlite\`), once; \`hydra serve all --dev\` (plain HTTP) on loopback, ready in ${f0(h.readyMs)} ms.
- Database: PostgreSQL (Debian's) on tmpfs with fsync off, a private server the bench starts: nothing waits on a
  disk, as with \`DSN=memory\`, which does not hold up under concurrent requests (an in-memory SQLite database in
  shared-cache mode: 400 "Unable to serialize access due to a concurrent update", or a deadlock on one connection;
  see bench/lib/hydra.mjs). Hydra's default pool (2 connections per core). CPU ms/op counts the Hydra process
  and PostgreSQL's (the postmaster and its children).
- The same client through the admin API (authorization_code, refresh_token, client_credentials; client_secret_basic;
  PKCE enforced, S256; refresh tokens rotate, a reused one is refused and revokes its chain), the same redirect URI
  and scopes plus offline_access (Hydra issues refresh tokens only with it). Client secrets hashed with PBKDF2 at 1
  iteration: Accouch and the engine compare a stored secret, and Hydra's default (25,000 iterations) made each
  client_credentials request take about 10 ms longer on this machine (one request at a time). ID tokens are signed
  with an RSA-2048 key (RS256) set through the admin API, as the others' (Hydra generates RSA-4096 keys, whose
  signatures cost about 7 times the CPU).
- Codes: ${R.settings.sessions} sessions signed in through Hydra's login and consent steps, accepted through its admin API
  as a login and consent app does (remembered, so later requests come back with skip=true and are accepted the same
  way); five round trips per code${mint ? `, ${f0(mint.perSecond)} codes/s while minting` : ''}. Introspection is Hydra's admin endpoint
  (\`/admin/oauth2/introspect\`, no client authentication); userinfo answers the claims the consent put in the session. Both
  use access tokens from codes minted after the refresh_token scenario: a refresh in Hydra revokes the access token
  issued with the rotated refresh token (Accouch and the engine keep it until it expires).
- Memory: RSS idle ${f1(R.memory.hydraIdle)} MiB, peak under the token load ${f1(R.memory.hydraTokenPeak)} MiB (Hydra's process).
`;
}

function profileSection(R) {
  const p = R.profile;
  if (!p) return '';
  const fnTable = (rows, n) => ['| Function (self time) | ms | share |', '| --- | ---: | ---: |', ...rows.slice(0, n).map((r) => `| \`${r.name}\` | ${f0(r.ms)} | ${pct(r.share)} |`)].join('\n');
  const pkgTable = (rows, n) => ['| Package (self time) | ms | share |', '| --- | ---: | ---: |', ...rows.slice(0, n).map((r) => `| ${r.name} | ${f0(r.ms)} | ${pct(r.share)} |`)].join('\n');
  const perScenario = p.scenarios.map((sc) => [
    `#### ${sc.name}: ${f0(sc.rate)} req/s under the profiler, ${f2(sc.cpuMsPerOp)} CPU ms per request`,
    '',
    `Packages: ${sc.packages.slice(0, 6).map((x) => `${x.name} ${pct(x.share)}`).join(', ')}.`,
    '',
    `Top functions: ${sc.functions.slice(0, 5).map((x) => `\`${x.name}\` ${pct(x.share)}`).join(', ')}.`,
    '',
    `Memory after the run: RSS ${f0(sc.memory.rss)} MiB, V8 heap ${f0(sc.memory.heapUsed)} MiB used of ${f0(sc.memory.heapTotal)} MiB.`,
    '',
    `SQL: ${f1(sc.statementsPerOp)} statements per request, ${f2(sc.msPerOp)} ms in SQLite on the event loop (reads: writes and their fsyncs run on the writer thread), ${f1(sc.prepares)} statements prepared (Accouch reuses prepared statements by SQL text; kysely alone would prepare every query anew).`,
    '',
    '| SQL statement | per request | ms per request |', '| --- | ---: | ---: |',
    ...sc.statements.slice(0, 8).map((st) => `| \`${st.sql.slice(0, 100).replace(/\|/g, '\\|')}\` | ${f2(st.perRequest)} | ${f2(st.msPerRequest)} |`),
  ].join('\n')).join('\n\n');
  const imports = R.imports ? [
    `Import cost of each dependency alone in a fresh process (median of 3; an empty process has ${f1(R.imports.emptyRss)} MiB RSS;`,
    'dependencies overlap, so the rows do not add up):',
    '',
    '| Module | import ms | RSS added MiB |', '| --- | ---: | ---: |',
    ...R.imports.rows.map((r) => `| ${r.module} | ${f0(r.ms)} | ${f1(r.rssDelta)} |`),
  ].join('\n') : '';
  return `
## Profiles

Taken because ${p.misses.length ? `these targets were missed: ${p.misses.join('; ')}` : '`--profile` was given'}.
Accouch ran with \`--cpu-prof\` (V8's sampling profiler; each table below is restricted to the samples taken during
that scenario's measured window) and a preload (\`bench/lib/sql-trace.mjs\`, outside Accouch) that counts and times
every better-sqlite3 statement on the event loop: the reads. Writes and their fsyncs (synchronous=FULL) run on the
writer thread (store/sqlite-writer-thread.ts), which this profile does not cover; its CPU is in the per-thread figures.

### Token load (refresh_token, authorization_code, client_credentials together)

${pkgTable(p.tokenLoad.packages, 12)}

${fnTable(p.tokenLoad.functions, 15)}

### Per scenario

${perScenario}

### What-if: refresh_token with the SQLite changes applied from outside (experiments, not Accouch as shipped)

SQL ms/op is the time the event loop spent blocked in SQLite per refresh (statement execution and fsync), the part
of the latency that no concurrency can hide with a synchronous driver.

| Variant | req/s | p99 ms | CPU ms/op | SQL ms/op | statements prepared per op |
| --- | ---: | ---: | ---: | ---: | ---: |
${p.whatIf.map((w) => `| ${w.label} | ${f0(w.rate)} | ${f1(w.p99)} | ${f2(w.cpuMsPerOp)} | ${f2(w.sqlMsPerOp)} | ${f1(w.prepares)} |`).join('\n')}

### Startup to /readyz (warm data dir, ${f0(p.startup.readyMs)} ms under the profiler)

${pkgTable(p.startup.packages, 10)}

${fnTable(p.startup.functions, 12)}

${imports}
`;
}

function scalingSection(R) {
  if (!R.scaling) return '\n## Scaling\n\nNot run in quick mode: `npm run bench` (the full run) seeds 1,000 users and 10,000 grants and compares.\n';
  const [small, large] = R.scaling;
  const names = small.rows.map((r) => r.name);
  const lines = [
    '| Scenario | 10 users: req/s | p99 ms | CPU ms/op | SQL ms/op | 1,000 users + 10,000 grants: req/s | p99 ms | CPU ms/op | SQL ms/op | large / small |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...names.map((n) => {
      const a = small.rows.find((r) => r.name === n);
      const z = large.rows.find((r) => r.name === n);
      const cells = (r) => `${f0(r.rate)} | ${f1(r.latency.p99)} | ${f2(r.cpuMsPerOp)} | ${f2(r.sql?.msPerOp)}`;
      return `| ${n} | ${cells(a)} | ${cells(z)} | ${f2(z.rate / a.rate)} |`;
    }),
  ];
  const seeded = large.seeded;
  return `
## Scaling

Two fresh data dirs, both servers running; the token scenarios alternate between them in slices, the login page runs
on one and right after on the other. SQL ms/op
is the time the event loop spent inside SQLite per request (statement execution and fsync, from the SQL-trace
preload both servers ran with): unlike the rate it leaves out waiting for the CPU, though fsync still waits for
the disk and its other traffic. Both got the bench app and ${R.settings.users} users through the CLI
(\`accouch client add\`, \`accouch user add --password-stdin\`). The large one was then filled by
\`bench/seed-scale.mjs\` (the CLI costs ~0.5 s per user) using Accouch's own compiled code: users through
\`store/users.createUser\` (sharing one scrypt hash from \`auth/password.hashPassword\`), ${seeded.clients} more
clients through \`store/clients.insertClient\`, and ${f0(seeded.grants)} grants, each with a refresh token and an
access token, through oidc-provider's models over Accouch's adapter: ${f0(seeded.users)} users,
${f0(seeded.payloadRows)} rows in \`oidc_payloads\` (seeded in ${f1(seeded.seconds)} s). The login page is the
"Who is signing in?" page of a browser that remembers no one: every member up to eight, beyond that the eight
who signed in last and a search (auth/household.ts), so both servers render at most eight tiles.

${lines.join('\n')}
`;
}

export function renderResults(R, targets) {
  const m = R.machine;
  const acc = (n) => rowOf(R.scenarios, ACC, n);
  const c = R.ceilings;
  const notes = [...R.scenarios, ...(R.capacity?.rows ?? [])].filter((r) => r.note || r.unexpected?.length || r.errors).map((r) =>
    `- ${r.system}, ${r.name} (${r.connections} connections): ${[r.note, r.errors ? `${r.errors} socket errors/timeouts` : '', ...(r.unexpected ?? [])].filter(Boolean).join('; ')}`);
  return `# Accouch benchmark results

Generated by \`npm run bench${R.settings.mode === 'quick' ? ' -- --quick' : ''}\` (bench/run.mjs); do not edit by hand.

- Date: ${m.date}
- Machine: ${m.cpu}, ${m.cores} cores, ${f1(m.memoryGiB)} GiB memory, ${m.kernel}
- Node: ${m.node} (Accouch, the bare engine, the load generator and the helpers all run on it)
- Load average (1/5/15 min) at start ${m.loadStart.map(f2).join(' / ')}, at the end ${m.loadEnd.map(f2).join(' / ')}: the machine is
  shared, and the load generator (autocannon, in the bench process) shares the ${m.cores} cores with the server under test.
- Mode: ${R.settings.mode}: warm-up ${R.settings.warmup} s, then ${R.settings.duration} s per scenario and system. refresh_token and authorization_code (${R.settings.duration} s each),
  client_credentials, userinfo and introspection (${2 * R.settings.duration} s each) run on every system in alternating slices of about ${R.settings.sliceSeconds} s (A B, B A, ...;
  each slice a fixed number of requests, every response awaited), so that the shared machine's drift weighs on every system alike;
  authorization_code: warm-up at most 1 s, then the codes of all its slices minted at once, outside the measured window (Accouch's and the engine's expire after a minute);
  password sign-in: ${R.settings.passwordSeconds} s with 4 connections, no warm-up. ${R.settings.connections} connections, pipelining 1,
  loopback only. Total run ${f0(R.elapsedSeconds)} s.
- Accouch runs as an operator runs it (\`node --max-semi-space-size=8 dist/src/main.js serve\` as \`npm start\` and the image do, SQLite in WAL mode with synchronous=FULL,
  log level \`info\`: one JSON line per request, written to a file). Its owner was set up through the first-boot
  pages with a software passkey (ES256, 'none' attestation); the app and ${R.settings.users} users came from the CLI.
- The bare engine is oidc-provider ${'from node_modules'} with its in-memory adapter (its LRU sized so nothing is evicted),
  the same client, routes, scopes, claims, PKCE, refresh rotation and key set (RS256 + ES256 + EdDSA), a static
  account, and an interaction route that signs that account in at once (\`bench/bare-engine.mjs\`). It runs oidc-provider's code
  as published; Accouch's bundle of the same version makes three errors per userinfo call and one per introspection (or revocation) only when
  they are thrown (\`scripts/lazy-engine-errors.mjs\`), where the published code builds them, stack and all, and drops them; and it gives
  \`ctx.oidc\` as a plain property (\`scripts/oidc-context-property.mjs\`), where the published code defines a getter per request.
- Codes and tokens for both were minted over HTTP: ${R.settings.sessions} browsers signed in on each (on Accouch through the
  real sign-in page: two with a password, the rest with the owner's passkey), one grant each; then every authorization
  request from those sessions returned a code. Each authorization_code request redeems a distinct code with its PKCE
  verifier; each refresh_token request presents the token returned by an earlier response (rotation chains), never
  one token twice.
- CPU ms/op is the server process's user + system CPU time during the measured run divided by the requests: on a
  shared machine it is steadier than the rate, and it leaves out the time Accouch's event loop sits blocked in fsync.

## Baselines

- (b) RS256 signing on one core (node:crypto, RSA-2048, a JWT-sized input): **${f0(R.sign.perSecond)} signatures/s**.
- (a) the bare engine: its column in the table below, measured in the same run, interleaved with Accouch (the token scenarios, userinfo and introspection in alternating slices of about ${R.settings.sliceSeconds} s; the others scenario by scenario).
${R.readCost ? `- (c) one token read from SQLite on this disk (better-sqlite3, WAL, 20,000 rows; \`bench/sqlite-read-cost.mjs\`): **${f1(R.readCost.readUs)} µs**
  alone, **${f1(R.readCost.readAfterCommitUs)} µs** right after another connection committed, as Accouch's read connection sees it
  under a token load (SQLite then reloads the pages the read touches). The bare engine reads a JavaScript Map.` : ''}

## Throughput and latency

${scenarioTable(R)}

${threadTable(R)}

${capacitySection(R)}
${R.minting ? `Authorization request from a signed-in browser (single sign-on into an app; 8 connections, while minting the codes
above): ${R.minting.map((m) => `${m.system} ${f0(m.perSecond)}/s`).join(', ')}.\n` : ''}
## Startup and memory

| Figure | Accouch | bare engine | ratio |
| --- | ---: | ---: | ---: |
| time to /readyz, warm data dir (median of ${R.boot.accouchWarm.length}: ${R.boot.accouchWarm.map(f0).join(', ')} ms) / time to listen | ${f0(R.boot.accouchWarmMedian)} ms | ${f0(R.boot.bareMedian)} ms (${R.boot.bare.map(f0).join(', ')}) | ${f2(R.boot.accouchWarmMedian / R.boot.bareMedian)} |
| time to /readyz, first boot (keys generated; ${R.boot.accouchFirst.map(f0).join(', ')} ms) | ${f0(R.boot.accouchFirstMedian)} ms | – | – |
| RSS idle after start (VmRSS, 1 s after ready) | ${f1(R.memory.accouchIdle)} MiB | ${f1(R.memory.bareIdle)} MiB | ${f2(R.memory.accouchIdle / R.memory.bareIdle)} |
| RSS after the bench's sign-ins (${R.settings.sessions} sessions; on Accouch 2 password sign-ins, scrypt 16 MiB each) | ${f1(R.memory.accouchAfterSignIns)} MiB | ${f1(R.memory.bareAfterSignIns)} MiB | – |
| RSS peak under the token load (VmRSS sampled every 50 ms) | ${f1(R.memory.accouchTokenPeak)} MiB | ${f1(R.memory.bareTokenPeak)} MiB | – |
| VmHWM at the end (includes the sign-in scenarios' scrypt buffers) | ${f1(R.memory.accouchHwm)} MiB | ${f1(R.memory.bareHwm)} MiB | – |

## Sign-in

- Password: ${f1(acc('password sign-in').rate)} sign-ins/s over HTTP. scrypt dominates by design (N=2^14, r=8, p=5,
  16 MiB): Accouch's \`verifyPassword\` alone takes ${f0(c.scryptMs)} ms and reaches ${f1(c.scryptPerSecond)}/s in-process with 4 in parallel
  (libuv's thread pool) on this machine.
- Passkey: ${f0(acc('passkey sign-in (options + assertion)').rate)} verified assertions/s over HTTP (each one a POST for options with a fresh
  server-side challenge, then the signed assertion; the software authenticator signs in the load generator).
  @simplewebauthn/server's \`verifyAuthenticationResponse\` alone reaches ${f0(c.webauthnPerSecond)}/s in-process on one core.

${hydraSection(R)}
${renderSlowDisk(R.slowDisk)}${renderForwardAuth(R.forwardAuth)}
## Targets

${targetTable(targets)}
${scalingSection(R)}${profileSection(R)}
${notes.length ? `## Anomalies\n\n${notes.join('\n')}\n` : ''}`;
}
