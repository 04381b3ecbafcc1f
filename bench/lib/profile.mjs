// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time by function and by
// package, so a missed target comes with the hot spots that explain it.
import { readFileSync } from 'node:fs';

// The SQL-trace preload's wrapper is the JS frame around every better-sqlite3 statement run: its self time is
// the statement's execution in SQLite, fsync included.
const traceWrapper = '/bench/lib/sql-trace.mjs';
const statementRun = 'better-sqlite3 statement run (SQLite reads on the event loop)';

const isStatementRun = (f) => f.functionName === 'traced' && f.url.endsWith(traceWrapper);

const packageOf = (url) => {
  if (!url) return '(native / V8)';
  if (url.endsWith(traceWrapper)) return 'bench SQL trace (overhead)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node core';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return 'accouch';
  return url.replace(/^file:\/\//, '');
};

const shortUrl = (url) => (url.includes('/node_modules/')
  ? url.replace(/^.*\/node_modules\//, '')
  : url.replace(/^file:\/\//, '').replace(/^.*\/dist\//, 'dist/'));

/** Monotonic clock in µs, the clock V8 stamps profile samples with (CLOCK_MONOTONIC on Linux). */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function and per package, in ms and share of the profile, top `limit` of each; `windows`
 * ([fromUs, toUs] pairs on {@link monotonicUs}) keeps only the samples taken inside them.
 */
export function summariseProfile(file, limit = 15, windows = undefined) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += deltas[i] ?? 0;
    if (windows && !windows.some(([from, to]) => at >= from && at <= to)) return;
    self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const pkgs = new Map();
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    const key = isStatementRun(f) ? statementRun
      : `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const pkg = ['(idle)', '(program)', '(garbage collector)'].includes(f.functionName) ? f.functionName
      : isStatementRun(f) ? statementRun : packageOf(f.url);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return { totalMs: total / 1000, functions: top(fns), packages: top(pkgs) };
}
