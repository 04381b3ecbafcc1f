// The forward-auth check against JWKS on its own (npm run bench measures it too, bench/lib/forward-auth.mjs):
// `npm run build && node bench/forward-auth.mjs [seconds] [--profile]`.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardAuthRun, forwardAuthTargets, renderForwardAuth } from './lib/forward-auth.mjs';
import { stopAll } from './lib/processes.mjs';
import { target } from './lib/report.mjs';

const args = process.argv.slice(2);
const seconds = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 10);
const tmp = mkdtempSync(join(tmpdir(), 'accouch-bench-fa-'));
const logDir = join(tmp, 'logs');
mkdirSync(logDir);
try {
  const result = await forwardAuthRun({ tmp, logDir, timing: { warmup: 2, duration: seconds }, profile: args.includes('--profile'), progress: (m) => console.error(m) });
  console.log(renderForwardAuth(result));
  for (const t of forwardAuthTargets(result, target)) console.log(`${t.pass ? 'met:' : `MISSED, ${t.gap}:`} ${t.name}: ${t.measured}, ${t.ratio.toFixed(2)} (${t.op} ${t.limit})`);
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
