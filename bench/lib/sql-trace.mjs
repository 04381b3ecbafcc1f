// Preload for profiling runs only (node --import bench/lib/sql-trace.mjs dist/src/main.js serve): counts and
// times every better-sqlite3 statement by its SQL text, from outside Accouch. On SIGUSR2 it writes the
// totals so far and process.memoryUsage() (MiB) to $BENCH_SQL_TRACE (the bench diffs two snapshots around
// one scenario).
// Two what-if switches, for experiments only (never in the reported figures): BENCH_SQL_SYNCHRONOUS=NORMAL
// replaces Accouch's synchronous=FULL, BENCH_SQL_CACHE=1 reuses prepared statements by SQL text.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const Database = require('better-sqlite3');
const stats = new Map();
let patched = false;
let prepares = 0;

const record = (sql, ms) => {
  const key = sql.replace(/\s+/g, ' ').slice(0, 200);
  const s = stats.get(key) ?? { count: 0, ms: 0 };
  s.count += 1;
  s.ms += ms;
  stats.set(key, s);
};

const synchronous = process.env.BENCH_SQL_SYNCHRONOUS;
if (synchronous) {
  const pragma = Database.prototype.pragma;
  Database.prototype.pragma = function whatIfPragma(source, ...rest) {
    return pragma.call(this, /^synchronous\b/i.test(source) ? `synchronous = ${synchronous}` : source, ...rest);
  };
}
const cache = process.env.BENCH_SQL_CACHE === '1' ? new Map() : undefined;

const prepare = Database.prototype.prepare;
Database.prototype.prepare = function tracedPrepare(sql, ...rest) {
  const cached = cache?.get(sql);
  if (cached) return cached;
  prepares += 1;
  const stmt = prepare.call(this, sql, ...rest);
  cache?.set(sql, stmt);
  if (!patched) {
    patched = true;
    const proto = Object.getPrototypeOf(stmt);
    for (const method of ['run', 'all', 'get', 'iterate']) {
      const original = proto[method];
      proto[method] = function traced(...args) {
        const started = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          record(this.source, performance.now() - started);
        }
      };
    }
  }
  return stmt;
};

process.on('SIGUSR2', () => {
  const memory = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, v / 1048576]));
  writeFileSync(process.env.BENCH_SQL_TRACE, JSON.stringify({ prepares, statements: Object.fromEntries(stats), memory }));
});
