// What each dependency costs a fresh process to import (time and RSS), one process per module, so a startup
// or idle-RSS miss can be traced to the modules that could load lazily. Prints JSON.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const modules = [
  'oidc-provider', 'koa', '@koa/router', '@koa/bodyparser', '@koa/multer', 'better-sqlite3', 'kysely', 'pino', 'zod', 'eta', 'yaml', 'commander',
  '@simplewebauthn/server', 'otplib', 'qrcode',
];
const probe = (specifier) => {
  const code = `const t = performance.now(); ${specifier ? `await import(${JSON.stringify(specifier)});` : ''} const ms = performance.now() - t;
    console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss / 1048576 }));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (result.status !== 0) return { error: result.stderr.slice(0, 200) };
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
};
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const measure = (specifier) => {
  const runs = [probe(specifier), probe(specifier), probe(specifier)].filter((r) => !r.error);
  return { ms: median(runs.map((r) => r.ms)), rss: median(runs.map((r) => r.rss)) };
};
const empty = measure(undefined);
const rows = modules.map((m) => {
  const r = measure(m);
  return { module: m, ms: r.ms, rssDelta: r.rss - empty.rss };
});
console.log(JSON.stringify({ emptyRss: empty.rss, rows }));
