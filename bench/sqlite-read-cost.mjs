// Baseline (c): what one point read of a token costs on this machine's disk with better-sqlite3, alone and right
// after another connection committed (as Accouch's read connection sees it under a token load: the writer thread
// commits between its reads, and SQLite then reloads the pages a read touches). The bare engine reads a Map.
// Argument: reads per measurement. Prints JSON (µs per read).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';

const SQLite = createRequire(join(import.meta.dirname, '..', 'package.json'))('better-sqlite3');
const reads = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(os.tmpdir(), 'accouch-read-cost-'));
try {
  const file = join(dir, 'read-cost.sqlite');
  const writer = new SQLite(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('synchronous = NORMAL'); // the fsync is not what this measures
  writer.exec('create table payloads (model text, id text, payload text, expires_at integer, consumed_at integer, primary key (model, id))');
  const insert = writer.prepare('insert into payloads (model, id, payload, expires_at) values (?, ?, ?, ?)');
  const payload = JSON.stringify({ accountId: 'x'.repeat(22), scope: 'openid profile email groups', padding: 'x'.repeat(800) });
  const rows = 20_000;
  writer.transaction(() => { for (let i = 0; i < rows; i += 1) insert.run('AccessToken', `t${i}`, payload, 2e9); })();
  const consume = writer.prepare('update payloads set consumed_at = ? where model = ? and id = ?');
  const reader = new SQLite(file, { readonly: true });
  const find = reader.prepare('select payload, consumed_at from payloads where model = ? and id = ? and (expires_at is null or expires_at > ?)');
  const key = (i) => `t${(i * 7919) % rows}`;
  // Each read timed alone; with `commitFirst`, another connection commits a change just before it.
  const time = (commitFirst) => {
    let total = 0;
    for (let i = 0; i < reads; i += 1) {
      if (commitFirst) consume.run(i, 'AccessToken', key(i * 31));
      const started = performance.now();
      find.get('AccessToken', key(i), 1e9);
      total += performance.now() - started;
    }
    return (total * 1000) / reads;
  };
  time(false); // warm-up
  const alone = time(false);
  const afterCommit = time(true);
  reader.close();
  writer.close();
  console.log(JSON.stringify({ readUs: alone, readAfterCommitUs: afterCommit }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
