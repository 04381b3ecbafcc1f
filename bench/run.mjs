// npm run bench [-- --quick] [-- --profile]: Accouch under load next to same-run baselines (a bare
// oidc-provider and the single-core RS256 signing rate), startup and memory, the targets of issue 7, and a
// scaling run (1,000 users and 10,000 grants against 10 users), the slow disk and the proxies' forward-auth check.
// Prints a table and writes bench/results.md.
// Everything listens on 127.0.0.1; every process started here is stopped by pid at the end, also on error.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { accouchEnv, seedThroughCli, setUpOwner, userPassword } from './lib/accouch.mjs';
import { createLoad } from './lib/load.mjs';
import { forwardAuthRun } from './lib/forward-auth.mjs';
import { freePort, memoryOf, runNode, sampleRss, serverCpuSeconds, stopAll, stopProcess } from './lib/processes.mjs';
import { monotonicUs, summariseProfile } from './lib/profile.mjs';
import { startHydraPeer, hydraVersion } from './lib/hydra.mjs';
import { evaluateTargets, renderResults, renderTable } from './lib/report.mjs';
import { slowDiskRun } from './lib/slow-disk.mjs';
import * as s from './lib/scenarios.mjs';
import {
  accouchSystem, bareSystem, mintFor, prepareInteractions, prepareTokens, startAccouch, startBare, writeBareJwks,
} from './lib/systems.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const profileAlways = args.includes('--profile');
const settings = quick
  ? { mode: 'quick', warmup: 0.5, duration: 1.5, signSeconds: 1, ceilingSeconds: 1, boots: 1, connections: 10, sessions: 30, scaling: false, scaleDuration: 0, users: 4, mintSeconds: 8, passwordSeconds: 3, sliceSeconds: 0.5 }
  : { mode: 'full', warmup: 2, duration: 6, signSeconds: 5, ceilingSeconds: 3, boots: 3, connections: 10, sessions: 40, scaling: true, scaleDuration: 5, users: 10, mintSeconds: 30, passwordSeconds: 8, sliceSeconds: 1 };
const timing = { warmup: settings.warmup, duration: settings.duration };
const benchDir = import.meta.dirname;
const started = performance.now();
const progress = (msg) => console.error(`[bench ${String(Math.round((performance.now() - started) / 1000)).padStart(3)} s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tmp = mkdtempSync(join(os.tmpdir(), 'accouch-bench-'));
const logDir = join(tmp, 'logs');
mkdirSync(logDir);

let hydraPeer;
const R = {
  settings,
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGiB: os.totalmem() / 2 ** 30, kernel: `${os.type()} ${os.release()}`,
    node: process.version, date: new Date().toISOString(), loadStart: os.loadavg(), loadEnd: undefined,
  },
  sign: undefined, readCost: undefined, ceilings: undefined, boot: {}, memory: {}, scenarios: [], hydra: undefined, minting: undefined, scaling: undefined, profile: undefined, imports: undefined,
};

/** The SQL trace of a server started with bench/lib/sql-trace.mjs: statements, prepares and memory so far. */
async function sqlSnapshot(system) {
  process.kill(system.server.pid, 'SIGUSR2');
  await sleep(300);
  return JSON.parse(readFileSync(system.traceFile, 'utf8'));
}

/** What the server did in SQLite per operation between two snapshots. */
function sqlPerOp(before, after, ops) {
  const statements = Object.entries(after.statements).map(([sql, v]) => {
    const p = before.statements[sql] ?? { count: 0, ms: 0 };
    return { sql, perRequest: (v.count - p.count) / ops, msPerRequest: (v.ms - p.ms) / ops };
  }).filter((x) => x.perRequest > 0.01).sort((a, b) => b.msPerRequest - a.msPerRequest);
  return {
    prepares: (after.prepares - before.prepares) / ops,
    statementsPerOp: statements.reduce((a, x) => a + x.perRequest, 0),
    msPerOp: statements.reduce((a, x) => a + x.msPerRequest, 0),
    statements,
    memory: after.memory,
  };
}

/** One scenario on one system, measured for `timing.duration` in one run (measured()). */
async function run(system, scenario, { sample = false, timing: t = timing } = {}) {
  return (await measured([system], () => scenario, { sample, timing: t, sliced: false }))[0];
}

/** Mints `wanted` codes on `system` (for at most its mintSeconds); `tally` adds up how many and how long. */
async function mint(system, wanted, tally) {
  const started = performance.now();
  const { codes } = await mintFor(system, system.tokens.agents, wanted, system.mintSeconds ?? settings.mintSeconds);
  const seconds = (performance.now() - started) / 1000;
  progress(`${system.label}: minted ${codes.length} codes at ${Math.round(codes.length / seconds)}/s (wanted ${wanted})`);
  if (tally) {
    tally.codes += codes.length;
    tally.seconds += seconds;
  }
  return codes;
}

/** Minting is itself a figure: an authorization request from a signed-in browser (single sign-on to an app). */
function recordMinting(system, { codes, seconds }) {
  R.minting ??= [];
  if (!R.minting.some((m) => m.system === system.label)) R.minting.push({ system: system.label, codes, perSecond: codes / seconds });
}

/**
 * Codes for one authorization_code run (warm-up + measurement): twice what the refresh rate just measured
 * suggests (at least 100/s), minted for at most 35 s (10 s in quick mode) so that the last is used before
 * codes expire (60 s). Should the measured share still run dry, the rate covers the time until it did.
 */
async function codesFor(system, refreshRate, t) {
  // A code exchange signs an id_token but saves less than a refresh: it may run at twice the refresh's rate.
  const wanted = Math.ceil(Math.max(refreshRate, 50) * (t.warmup + t.duration) * 2.5) + 4 * settings.connections;
  const tally = { codes: 0, seconds: 0 };
  const codes = await mint(system, wanted, tally);
  recordMinting(system, tally);
  return codes;
}

/**
 * Resolves once `system` has gone quiet: 50 ms in which its CPU time (counted in ticks of 10 ms) did not grow, or
 * after 3 s. The collections and commits that minting codes left behind then stay out of the measured window.
 */
async function quiet(system) {
  const cpu = () => serverCpuSeconds(system.server.pid, system.cpuPids);
  const until = performance.now() + 3000;
  for (let before = cpu(); performance.now() < until; ) {
    await sleep(50);
    const now = cpu();
    if (now - before < 0.005) return;
    before = now;
  }
}

/** Seconds per slice of a sliced run (measured()). */
const { sliceSeconds } = settings;

/**
 * One scenario on every system in alternating slices (A B, B A, A B, ...), each slice a fixed number of requests
 * (about `sliceSeconds` at the rate the warm-up showed) whose responses are all awaited: the shared machine's
 * drift, which moved one system's rate by a fifth between runs a minute apart, weighs on every system alike, and a
 * refresh chain or code is never cut off between slices. `seconds` per system in all; one row per system. Not
 * `sliced`: each system in one run of `seconds`, one after the other. With `sample`, each system's RSS is sampled
 * (the token load's peak); on a server with the SQL trace, the row also says what it did in SQLite per operation.
 */
async function measured(systems, make, { sample = false, timing: t = timing, seconds = t.duration, sliced = true, supply } = {}) {
  const runs = [];
  for (const system of systems) {
    const scenario = make(system);
    progress(`${system.label}: ${scenario.name}${sliced ? ' (warm-up)' : ''}`);
    const load = createLoad(scenario.origin ?? system.origin, scenario, { pid: system.server.pid, cpuPids: system.cpuPids });
    if (supply) scenario.supply(await supply(system, { perRun: load.warmupAmount }));
    const rate = t.warmup > 0 ? await load.warmup(t.warmup) : 0;
    const connections = scenario.connections ?? settings.connections;
    runs.push({ system, scenario, load, connections, amount: Math.max(2 * connections, Math.round(rate * sliceSeconds)) });
  }
  const slices = sliced ? Math.max(1, Math.round(seconds / sliceSeconds)) : 1;
  if (sliced) progress(`${runs[0].scenario.name}: ${slices} slices on each of ${systems.length} systems, alternating`);
  const openWindow = async (r) => {
    if (r.system.traceFile) r.before = await sqlSnapshot(r.system);
    r.scenario.beforeMeasure?.();
    r.sampler = sample ? sampleRss(r.system.server.pid) : undefined;
    r.from = monotonicUs();
    r.load.open();
  };
  const closeWindow = (r) => {
    r.load.close();
    r.to = monotonicUs();
  };
  if (sliced) {
    if (supply) {
      // What the slices consume is made for all of them at once, after the warm-ups and before the measured windows,
      // first for the systems whose codes live longest; each server then goes quiet before anything is measured.
      for (const r of [...runs].sort((a, b) => (b.system.codeSeconds ?? 60) - (a.system.codeSeconds ?? 60))) {
        r.scenario.supply(await supply(r.system, { count: slices * r.amount + r.connections }));
      }
      for (const r of runs) await quiet(r.system);
    }
    for (const r of runs) await openWindow(r);
    for (let i = 0; i < slices; i += 1) {
      for (const r of i % 2 ? [...runs].reverse() : runs) await r.load.run({ amount: r.amount, deadline: 30 * sliceSeconds });
    }
    for (const r of runs) closeWindow(r);
  } else {
    for (const r of runs) {
      await openWindow(r);
      await r.load.run({ duration: seconds });
      closeWindow(r);
    }
  }
  const rows = [];
  for (const r of runs) {
    const result = r.load.result();
    result.window = [r.from, r.to];
    if (r.sampler) r.system.tokenPeak = Math.max(r.system.tokenPeak ?? 0, r.sampler.stop());
    if (r.before) result.sql = sqlPerOp(r.before, await sqlSnapshot(r.system), Math.max(1, result.ok + result.bad));
    result.note = r.scenario.dryNote?.(result.seconds);
    rows.push({ system: r.system.label, ...result });
  }
  return rows;
}

/**
 * refresh_token, then authorization_code, each in alternating slices across the systems. A system mints the codes of
 * its warm-up right before it, and those of all its slices after every warm-up, the longest-lived codes first (they
 * expire a minute after they are minted on Accouch and the engine, ten on Hydra).
 */
async function tokenScenarios(systems, rows, t = timing) {
  const refreshRows = await measured(systems, (system) => s.refreshToken(system.client, system.tokens.refresh, system.paths), { sample: true, timing: t });
  rows.push(...refreshRows);
  const refreshRate = new Map(systems.map((system, i) => [system, refreshRows[i].rate]));
  // The code path's JIT is warm from the refresh run.
  const codeTiming = { warmup: Math.min(1, t.warmup), duration: t.duration };
  const tallies = new Map(systems.map((system) => [system, { codes: 0, seconds: 0 }]));
  // The warm-up's codes: whole warm-up runs, for twice what the refresh rate suggests (at least 50/s).
  const forWarmup = (system, perRun) => perRun * (1 + Math.ceil((Math.max(refreshRate.get(system), 50) * codeTiming.warmup * 2) / perRun));
  const supply = (system, { count, perRun }) => mint(system, count ?? forWarmup(system, perRun), tallies.get(system));
  rows.push(...await measured(systems, (system) => s.codeExchange(system.client, system.paths), { sample: true, timing: codeTiming, supply }));
  for (const [system, tally] of tallies) recordMinting(system, tally);
}

/**
 * Ory Hydra, the second peer, before anything is measured (a first run builds it with Go): on failure (no Go, a
 * failed build, no PostgreSQL) the run goes on without it and results.md says why.
 */
async function startHydraOrSayWhy() {
  progress(`Ory Hydra ${hydraVersion}: building (once) and starting`);
  try {
    hydraPeer = await startHydraPeer({ logDir, progress });
    R.hydra = { version: hydraVersion, readyMs: hydraPeer.system.server.readyMs };
    progress(`Ory Hydra ready in ${Math.round(R.hydra.readyMs)} ms`);
    return hydraPeer.system;
  } catch (error) {
    R.hydra = { version: hydraVersion, skipped: error.message.split('\n')[0] };
    progress(`Ory Hydra not measured: ${R.hydra.skipped}`);
    return undefined;
  }
}

async function mainRun() {
  const H = await startHydraOrSayWhy();
  progress(`RS256 signing rate (${settings.signSeconds} s, one core)`);
  R.sign = JSON.parse(await runNode(join(benchDir, 'sign-rate.mjs'), [String(settings.signSeconds)]));
  progress('SQLite point read, alone and after another connection\'s commit');
  R.readCost = JSON.parse(await runNode(join(benchDir, 'sqlite-read-cost.mjs')));

  // First boots (keys generated), the first one also set up and seeded as an owner would.
  const mainDir = join(tmp, 'accouch');
  const accPort = await freePort();
  const firstBoots = [];
  let client;
  let authenticator;
  for (let i = 0; i < settings.boots; i += 1) {
    const dataDir = i === 0 ? mainDir : join(tmp, `first-boot-${i}`);
    const server = await startAccouch({ dataDir, port: i === 0 ? accPort : await freePort(), logDir, label: `first-boot-${i}` });
    firstBoots.push(server.readyMs);
    progress(`Accouch first boot ${i + 1}: ready in ${Math.round(server.readyMs)} ms`);
    if (i === 0) {
      authenticator = await setUpOwner(server);
      const env = accouchEnv(mainDir, accPort);
      client = await seedThroughCli(env, settings.users);
      progress(`owner set up with a passkey; ${settings.users} users and the bench app added through the CLI`);
    }
    await stopProcess(server);
    if (i > 0) rmSync(dataDir, { recursive: true, force: true });
  }

  // Warm boots of Accouch and starts of the bare engine, alternating; the last of each keeps running.
  const jwksFile = join(tmp, 'bare-jwks.json');
  writeBareJwks(jwksFile);
  const barePort = await freePort();
  const warmBoots = [];
  const bareBoots = [];
  let acc;
  let bare;
  for (let i = 0; i < settings.boots; i += 1) {
    const last = i === settings.boots - 1;
    const b = await startBare({ port: barePort, logDir, jwksFile, label: `bare-${i}` });
    bareBoots.push(b.readyMs);
    if (last) bare = b;
    else await stopProcess(b);
    const a = await startAccouch({ dataDir: mainDir, port: accPort, logDir, label: `warm-${i}` });
    warmBoots.push(a.readyMs);
    if (last) acc = a;
    else await stopProcess(a);
    progress(`boot ${i + 1}: bare engine listening in ${Math.round(b.readyMs)} ms, Accouch /readyz in ${Math.round(a.readyMs)} ms`);
  }
  R.boot = { accouchFirst: firstBoots, accouchWarm: warmBoots, bare: bareBoots, accouchFirstMedian: median(firstBoots), accouchWarmMedian: median(warmBoots), bareMedian: median(bareBoots) };
  await sleep(1000);
  R.memory.accouchIdle = memoryOf(acc.pid).rss;
  R.memory.bareIdle = memoryOf(bare.pid).rss;
  progress(`idle RSS: Accouch ${R.memory.accouchIdle.toFixed(1)} MiB, bare engine ${R.memory.bareIdle.toFixed(1)} MiB`);

  const A = accouchSystem({ server: acc, client, users: settings.users, authenticator });
  const B = bareSystem({ server: bare });
  const C = settings.connections;
  // Hydra's codes live 10 minutes and each takes five round trips (login and consent accepted through its admin
  // API): it gets longer to mint them.
  if (H) {
    H.mintSeconds = settings.mintSeconds * 3;
    H.codeSeconds = 600;
  }
  const peers = H ? [B, A, H] : [B, A];
  if (H) R.memory.hydraIdle = memoryOf(H.server.pid).rss;
  for (const system of peers) {
    system.tokens = await prepareTokens(system, { sessions: settings.sessions });
  }
  R.memory.accouchAfterSignIns = memoryOf(acc.pid).rss;
  R.memory.bareAfterSignIns = memoryOf(bare.pid).rss;
  progress(`${settings.sessions} sessions each signed in (Accouch: 2 with a password, the rest with the passkey), refresh-token chains started`);
  const loginInteractions = await prepareInteractions(A, 2 * C);
  const passwordInteractions = await prepareInteractions(A, 8, settings.users);
  const passkeyInteractions = await prepareInteractions(A, 2 * C);

  const rows = R.scenarios;
  for (const make of [() => s.discovery(), (sys) => s.jwks(sys.paths)]) {
    for (const system of peers) rows.push(await run(system, make(system)));
  }
  rows.push(await run(B, s.authorize(B.client.id)));
  rows.push(await run(A, s.authorize(A.client.id)));
  rows.push(await run(A, s.loginPage(loginInteractions)));
  await tokenScenarios(peers, rows);
  rows.push(...await measured(peers, (system) => s.clientCredentials(system.client, system.paths), { sample: true, seconds: 2 * settings.duration }));
  // refresh_token and client_credentials again with three times the connections, on Accouch and the engine alone:
  // how the gap at the bench's connections changes with more requests in flight to share each commit.
  // Three times the connections take as many refresh chains: the sign-ins start 40 (30 in quick mode, none to spare),
  // and no run drops one.
  R.capacity = { connections: 3 * C, rows: [] };
  for (const make of [
    (sys) => s.refreshToken(sys.client, sys.tokens.refresh, sys.paths),
    (sys) => s.clientCredentials(sys.client, sys.paths),
  ]) {
    R.capacity.rows.push(...await measured([B, A], (sys) => ({ ...make(sys), connections: R.capacity.connections })));
  }
  if (H) H.tokens.access = await H.freshAccessTokens(H.tokens.agents);
  for (const make of [
    (sys) => s.userinfo(sys.tokens.access, sys.paths),
    (sys) => s.introspection(sys.client, sys.tokens.access, sys.paths, sys.adminOrigin),
  ]) {
    rows.push(...await measured(peers, make, { seconds: 2 * settings.duration }));
  }
  rows.push(await run(A, s.passkeySignIn(passkeyInteractions, authenticator)));
  // Last: scrypt occupies libuv's thread pool, which WebAuthn verification and token signing also use, and
  // a sign-in takes about a second on a busy machine, so this one runs longer and needs no warm-up.
  rows.push(await run(A, s.passwordSignIn(passwordInteractions, userPassword), { timing: { warmup: 0, duration: settings.passwordSeconds } }));

  R.memory.accouchTokenPeak = A.tokenPeak;
  R.memory.bareTokenPeak = B.tokenPeak;
  R.memory.accouchHwm = memoryOf(acc.pid).hwm;
  R.memory.bareHwm = memoryOf(bare.pid).hwm;
  if (H) R.memory.hydraTokenPeak = H.tokenPeak;
  await stopProcess(acc);
  await stopProcess(bare);
  await hydraPeer?.stop();

  progress(`sign-in ceilings in-process (${settings.ceilingSeconds} s each)`);
  R.ceilings = JSON.parse(await runNode(join(benchDir, 'sign-in-ceilings.mjs'), [String(settings.ceilingSeconds)]));
  return { mainDir, accPort, client, authenticator };
}

/**
 * 10 users and no other grants against 1,000 users, 50 clients and 10,000 stored grants: both servers set up
 * first, then the token scenarios alternating between them in slices, and the login page on one and right after
 * on the other, so machine drift hits both alike.
 */
async function scalingRun() {
  const t = { warmup: 1, duration: settings.scaleDuration };
  const variants = [
    { label: 'small', users: settings.users, clients: 0, grants: 0 },
    { label: 'large', users: 1000, clients: 49, grants: 10_000 },
  ];
  for (const v of variants) {
    const dataDir = join(tmp, `scale-${v.label}`);
    const port = await freePort();
    const env = accouchEnv(dataDir, port);
    progress(`scaling (${v.label}): first boot, owner with a passkey, ${settings.users} users through the CLI`);
    let server = await startAccouch({ dataDir, port, logDir, label: `scale-${v.label}-first` });
    const authenticator = await setUpOwner(server);
    const client = await seedThroughCli(env, settings.users);
    await stopProcess(server);
    if (v.grants) {
      progress(`scaling (${v.label}): bulk seeding to ${v.users} users, ${v.clients + 1} clients, ${v.grants} grants`);
      const t0 = performance.now();
      v.seeded = JSON.parse(await runNode(join(benchDir, 'seed-scale.mjs'), [String(v.users), String(v.clients), String(v.grants)], env));
      v.seeded.seconds = (performance.now() - t0) / 1000;
    }
    // Both with the SQL trace (the same small overhead on each), so the table can say where the time went.
    const traceFile = join(tmp, `sql-trace-${v.label}.json`);
    server = await startAccouch({
      dataDir, port, logDir, label: `scale-${v.label}`, env: { BENCH_SQL_TRACE: traceFile }, nodeFlags: ['--import', join(benchDir, 'lib', 'sql-trace.mjs')],
    });
    v.system = accouchSystem({ server, client, users: settings.users, authenticator });
    v.system.label = `Accouch (${v.label})`;
    v.system.traceFile = traceFile;
    v.system.tokens = await prepareTokens(v.system, { sessions: settings.sessions });
    v.interactions = await prepareInteractions(v.system, 2 * settings.connections);
  }
  const rows = [];
  await tokenScenarios(variants.map((v) => v.system), rows, t);
  for (const v of variants) rows.push(await run(v.system, s.loginPage(v.interactions), { timing: t }));
  for (const v of variants) await stopProcess(v.system.server);
  return variants.map(({ label, users, clients, grants, seeded, system }) => ({
    label, users, clients, grants, seeded, rows: rows.filter((r) => r.system === system.label),
  }));
}

/**
 * When a target is missed (or with --profile): where startup and each scenario spend their time, from a
 * server run under --cpu-prof with every SQL statement counted and timed (bench/lib/sql-trace.mjs).
 */
async function profileRun({ mainDir, accPort, client, authenticator }, misses) {
  const profDir = join(tmp, 'profiles');
  const result = { misses: misses.map((m) => m.name), scenarios: [] };

  progress('profiling: startup (--cpu-prof)');
  const bootDir = join(profDir, 'boot');
  const boot = await startAccouch({ dataDir: mainDir, port: accPort, logDir, label: 'profile-boot', nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${bootDir}`] });
  await stopProcess(boot);
  result.startup = { readyMs: boot.readyMs, ...summariseProfile(join(bootDir, readdirSync(bootDir)[0]), 12) };

  progress('profiling: import cost per dependency');
  R.imports = JSON.parse(await runNode(join(benchDir, 'import-cost.mjs')));

  progress('profiling: scenarios (--cpu-prof, SQL statements traced)');
  const loadDir = join(profDir, 'load');
  const trace = join(tmp, 'sql-trace.json');
  const server = await startAccouch({
    dataDir: mainDir, port: accPort, logDir, label: 'profile-load', env: { BENCH_SQL_TRACE: trace },
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${loadDir}`, '--import', join(benchDir, 'lib', 'sql-trace.mjs')],
  });
  const system = accouchSystem({ server, client, users: settings.users, authenticator });
  system.traceFile = trace;
  system.tokens = await prepareTokens(system, { sessions: settings.sessions });
  const t = { warmup: 1, duration: 3 };
  const traced = async (scenario) => {
    const row = await run(system, scenario, { timing: t });
    result.scenarios.push({ name: scenario.name, rate: row.rate, cpuMsPerOp: row.cpuMsPerOp, window: row.window, ...row.sql });
    return row;
  };
  await traced(s.discovery());
  await traced(s.jwks());
  await traced(s.authorize(client.id));
  const refresh = await traced(s.refreshToken(system.client, system.tokens.refresh));
  await traced(s.authorizationCode(system.client, await codesFor(system, refresh.rate, t)));
  await traced(s.clientCredentials(system.client));
  await traced(s.userinfo(system.tokens.access));
  await traced(s.loginPage(await prepareInteractions(system, 2 * settings.connections)));
  await traced(s.passkeySignIn(await prepareInteractions(system, 2 * settings.connections), authenticator));
  await stopProcess(server);
  const file = join(loadDir, readdirSync(loadDir)[0]);
  for (const sc of result.scenarios) Object.assign(sc, summariseProfile(file, 10, [sc.window]));
  const tokenWindows = result.scenarios.filter((sc) => sc.name.startsWith('token:')).map((sc) => sc.window);
  result.tokenLoad = summariseProfile(file, 20, tokenWindows);

  // What-if: the two SQLite changes the profile points at, applied from outside by the preload, against the
  // same server as shipped, back to back. Experiments only: the figures above are Accouch as shipped.
  result.whatIf = [];
  for (const [label, env] of [
    ['as shipped (synchronous=FULL, prepared statements reused)', {}],
    ['the statement-cache switch again (a no-op now that Accouch ships the cache: the spread is noise)', { BENCH_SQL_CACHE: '1' }],
    ['synchronous=NORMAL (WAL)', { BENCH_SQL_SYNCHRONOUS: 'NORMAL' }],
    ['both', { BENCH_SQL_CACHE: '1', BENCH_SQL_SYNCHRONOUS: 'NORMAL' }],
  ]) {
    const variant = await startAccouch({
      dataDir: mainDir, port: accPort, logDir, label: 'what-if', env: { BENCH_SQL_TRACE: trace, ...env },
      nodeFlags: ['--import', join(benchDir, 'lib', 'sql-trace.mjs')],
    });
    const sys = accouchSystem({ server: variant, client, users: settings.users, authenticator });
    sys.label = `Accouch, what-if: ${label}`;
    sys.traceFile = trace;
    sys.tokens = await prepareTokens(sys, { sessions: settings.sessions });
    const row = await run(sys, s.refreshToken(sys.client, sys.tokens.refresh), { timing: { warmup: 1, duration: 3 } });
    await stopProcess(variant);
    result.whatIf.push({ label, rate: row.rate, p99: row.latency.p99, cpuMsPerOp: row.cpuMsPerOp, sqlMsPerOp: row.sql.msPerOp, prepares: row.sql.prepares });
  }
  return result;
}

// Interrupted (Ctrl-C, a CI timeout): stop what this run started and leave no temp dirs behind.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    console.error(`bench: ${signal}, stopping`);
    await stopAll();
    await hydraPeer?.stop();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
}

let exitCode = 0;
try {
  const main = await mainRun();
  R.slowDisk = await slowDiskRun({
    tmp, dataDir: main.mainDir, port: main.accPort, logDir, client: main.client, users: settings.users, authenticator: main.authenticator,
    sessions: settings.sessions, timing, progress,
  });
  // A run that fails says why in results.md; the other ten minutes of figures are kept.
  R.forwardAuth = await forwardAuthRun({ tmp, logDir, timing, profile: !quick || profileAlways, progress })
    .catch((error) => ({ skipped: `the run failed: ${error.message}`, rows: [] }));
  if (settings.scaling) R.scaling = await scalingRun();
  const targets = evaluateTargets(R);
  // The forward-auth check's section has a profile of its own; the profile run is of the main server's scenarios.
  const misses = targets.filter((x) => !x.pass && !x.forwardAuth);
  if (profileAlways || (!quick && misses.length)) R.profile = await profileRun(main, misses);
  R.machine.loadEnd = os.loadavg();
  R.elapsedSeconds = (performance.now() - started) / 1000;
  const markdown = renderResults(R, targets);
  writeFileSync(join(benchDir, 'results.md'), markdown);
  console.log(renderTable(R, targets));
  console.log(`\nwrote bench/results.md (${Math.round(R.elapsedSeconds)} s)`);
} catch (error) {
  console.error('bench failed:', error);
  exitCode = 1;
} finally {
  await stopAll();
  await hydraPeer?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(exitCode);
