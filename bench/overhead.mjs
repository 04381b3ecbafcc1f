// node bench/overhead.mjs [seconds]: the per-request overhead Accouch adds to the engine it wraps, on the
// endpoints that need no sign-in (discovery, JWKS, client_credentials, introspection of those tokens), against
// the bare engine in the same run. A quick check while working on request cost; `npm run bench` is the record.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { accouchEnv, seedThroughCli, startAccouch } from './lib/accouch.mjs';
import { redeem } from './lib/browser.mjs';
import { measure } from './lib/load.mjs';
import { freePort, stopAll } from './lib/processes.mjs';
import * as s from './lib/scenarios.mjs';
import { bareSecret, startBare, writeBareJwks } from './lib/systems.mjs';

void redeem;
const seconds = Number(process.argv[2] ?? 2);
const tmp = mkdtempSync(join(os.tmpdir(), 'accouch-overhead-'));
try {
  const accPort = await freePort();
  const acc = await startAccouch({ dataDir: join(tmp, 'data'), port: accPort, logDir: tmp, label: 'overhead', env: { EXP: process.env.EXP ?? '' } });
  const client = await seedThroughCli(accouchEnv(join(tmp, 'data'), accPort), 0);
  const jwksFile = join(tmp, 'jwks.json');
  writeBareJwks(jwksFile);
  const bare = await startBare({ port: await freePort(), logDir: tmp, jwksFile });
  const systems = [
    { label: 'accouch', server: acc, client },
    { label: 'bare', server: bare, client: { id: 'bench-app', secret: bareSecret } },
  ];
  const tokens = async (system) => {
    const out = [];
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`http://127.0.0.1:${system.server.port}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${system.client.id}:${system.client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      out.push((await res.json()).access_token);
    }
    return out;
  };
  for (const system of systems) system.tokens = await tokens(system);
  const rows = [];
  for (const make of [() => s.discovery(), () => s.jwks(), (sys) => s.clientCredentials(sys.client), (sys) => s.introspection(sys.client, sys.tokens)]) {
    const row = {};
    for (const system of systems) {
      const r = await measure(`http://127.0.0.1:${system.server.port}`, make(system), { warmup: 0.5, duration: seconds, pid: system.server.pid });
      row.name = r.name;
      row[system.label] = r;
    }
    rows.push(row);
  }
  for (const { name, accouch, bare } of rows) {
    console.log(`${name.padEnd(28)} accouch ${accouch.rate.toFixed(0).padStart(6)}/s ${accouch.cpuMsPerOp.toFixed(3)} ms/op  bare ${bare.rate.toFixed(0).padStart(6)}/s ${bare.cpuMsPerOp.toFixed(3)} ms/op  ratio ${(accouch.rate / bare.rate).toFixed(2)}  cpu +${(accouch.cpuMsPerOp - bare.cpuMsPerOp).toFixed(3)} ms${accouch.bad ? ` (${accouch.bad} bad: ${accouch.unexpected[0]})` : ''}`);
  }
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
