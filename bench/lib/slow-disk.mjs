// The slow-disk scenario: an SD card, whose fsync takes 5–25 ms, imitated by LD_PRELOAD'ing bench/lib/slow-fsync.c
// (every fsync/fdatasync 10 ms slower) into Accouch. Measured against the same server on the normal disk, back to
// back: a refresh's p50 alone, and the p50 of JWKS requests sent while refreshes run (the event loop must not wait).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { measure } from './load.mjs';
import { stopProcess } from './processes.mjs';
import * as s from './scenarios.mjs';
import { accouchSystem, prepareTokens, startAccouch } from './systems.mjs';

/** Milliseconds as the tables show them. */
const ms = (x) => x.toFixed(1);

export const fsyncDelayMs = 10;

/** Builds the shim with the machine's C compiler; undefined (and why) where there is none. */
export function buildShim(tmp) {
  const out = join(tmp, 'slow-fsync.so');
  const cc = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-o', out, join(import.meta.dirname, 'slow-fsync.c'), '-ldl'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return { error: cc.error?.message ?? cc.stderr.trim() };
  return { path: out };
}

/** Runs the scenario on `dataDir` (set up, server stopped) for both disks; returns their figures. */
export async function slowDiskRun({ tmp, dataDir, port, logDir, client, users, authenticator, sessions, timing, progress }) {
  const shim = buildShim(tmp);
  if (shim.error) return { skipped: `no C compiler to build the fsync shim: ${shim.error}` };
  const result = { delayMs: fsyncDelayMs, disks: [] };
  for (const disk of ['normal', 'slow']) {
    const env = disk === 'slow' ? { LD_PRELOAD: shim.path, BENCH_FSYNC_DELAY_MS: String(fsyncDelayMs) } : {};
    const server = await startAccouch({ dataDir, port, logDir, label: `disk-${disk}`, env });
    try {
      const sys = accouchSystem({ server, client, users, authenticator });
      sys.tokens = await prepareTokens(sys, { sessions });
      progress(`${disk} disk: refresh_token alone`);
      const alone = await measure(sys.origin, s.refreshToken(sys.client, sys.tokens.refresh), { ...timing, pid: server.pid });
      // Requests cut off at the end of a run spend their chain's token: fresh chains for the second run.
      sys.tokens = await prepareTokens(sys, { sessions });
      progress(`${disk} disk: JWKS (2 connections) during refresh_token (10 connections)`);
      const [refresh, jwks] = await Promise.all([
        measure(sys.origin, s.refreshToken(sys.client, sys.tokens.refresh), timing),
        measure(sys.origin, { ...s.jwks(), connections: 2 }, timing),
      ]);
      result.disks.push({ disk, alone, refresh, jwks });
    } finally {
      await stopProcess(server);
    }
  }
  return result;
}

/** The two targets of the scenario. */
export function slowDiskTargets(result, target) {
  if (!result?.disks?.length) return [];
  const [normal, slow] = result.disks;
  const grow = (pick) => pick(slow) - pick(normal);
  return [
    target(`slow disk (+${result.delayMs} ms per fsync): refresh_token p50 growth`, `${ms(normal.alone.latency.p50)} → ${ms(slow.alone.latency.p50)} ms`,
      grow((d) => d.alone.latency.p50), '≤', 15, 'ms'),
    target('slow disk: JWKS p50 growth during a refresh load', `${ms(normal.jwks.latency.p50)} → ${ms(slow.jwks.latency.p50)} ms`,
      grow((d) => d.jwks.latency.p50), '≤', 3, 'ms'),
  ];
}

export function renderSlowDisk(result) {
  if (!result) return '';
  if (result.skipped) return `\n## Slow disk\n\nNot measured: ${result.skipped}.\n`;
  const row = (d) => `| ${d.disk} | ${Math.round(d.alone.rate)} | ${ms(d.alone.latency.p50)} | ${ms(d.alone.latency.p99)} | ${Math.round(d.refresh.rate)} | ${ms(d.refresh.latency.p50)} | ${Math.round(d.jwks.rate)} | ${ms(d.jwks.latency.p50)} | ${ms(d.jwks.latency.p99)} |`;
  return `
## Slow disk

The same data dir and server, first on this machine's disk, then with every fsync and fdatasync made ${result.delayMs} ms
slower by \`bench/lib/slow-fsync.c\` (built here with gcc, loaded with LD_PRELOAD), as an SD card would. Refresh alone:
10 connections; then refreshes (10 connections) and JWKS (2 connections) at the same time.

| Disk | refresh alone req/s | p50 ms | p99 ms | refresh under JWKS req/s | p50 ms | JWKS req/s | JWKS p50 ms | JWKS p99 ms |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${result.disks.map(row).join('\n')}
`;
}
