// On an SD card every fsync takes long; here every fsync and fdatasync takes 400 ms more (bench/lib/slow-fsync.c,
// LD_PRELOAD'ed). Writes wait for the disk, nothing else does: a JWKS request sent while token requests wait for
// their commit is answered first, and every token answered is on disk (it survives a kill -9).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addClient } from './support/rp.js';
import { root, sqliteOnly, startServer, stopCleanly, type RunningServer } from './support/server.js';

function buildShim(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'accouch-shim-')), 'slow-fsync.so');
  const cc = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-o', out, join(root, 'bench', 'lib', 'slow-fsync.c'), '-ldl'], { encoding: 'utf8' });
  expect(cc.status, `gcc builds the fsync shim: ${cc.error?.message ?? cc.stderr}`).toBe(0);
  return out;
}

sqliteOnly(() => {
  describe('a slow disk', () => {
    let server: RunningServer;
    afterAll(async () => { await stopCleanly(server); });

    it('holds back the requests that write, not the others, and loses none of what it answered', async () => {
      // Set up on the normal disk (first boot commits a lot), then run on the slow one.
      const setup = await startServer();
      const secret = addClient(setup, 'svc', ['--client-credentials'])!;
      await stopCleanly(setup);
      server = await startServer({ dataDir: setup.dataDir, env: { LD_PRELOAD: buildShim(), BENCH_FSYNC_DELAY_MS: '400' } });
      const auth = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`;
      const order: string[] = [];
      const token = async (i: number) => {
        const res = await fetch(`${server.issuer}/token`, {
          method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
        });
        order.push(`token ${i}`);
        expect(res.status).toBe(200);
        return ((await res.json()) as { access_token: string }).access_token;
      };
      // Warm both paths once, so that the race below is between the disk and the event loop only.
      await token(-1);
      expect((await fetch(`${server.issuer}/jwks`)).status).toBe(200);
      order.length = 0;

      const tokens = Array.from({ length: 6 }, (_, i) => token(i));
      // Two JWKS requests one after the other, sent after the token requests: a server that sat in fsync would
      // answer at least the first token request before them.
      for (let i = 0; i < 2; i += 1) {
        const res = await fetch(`${server.issuer}/jwks`);
        order.push('jwks');
        expect(res.status).toBe(200);
      }
      const issued = await Promise.all(tokens);
      expect(order.slice(0, 2)).toEqual(['jwks', 'jwks']);

      // Every answered token was on disk before its answer: a power cut now loses none of them.
      await server.kill();
      server = await server.restart();
      for (const accessToken of issued) {
        const res = await fetch(`${server.issuer}/token/introspection`, {
          method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${accessToken}`,
        });
        expect(await res.json()).toMatchObject({ active: true });
      }
    });

    it('answers a write only after the log it went to is synced to the disk', async () => {
      const setup = await startServer();
      const secret = addClient(setup, 'svc', ['--client-credentials'])!;
      await stopCleanly(setup);
      // Every fsync takes 300 ms more and is logged once done: an answer sent before its sync would arrive first.
      const syncLog = join(mkdtempSync(join(tmpdir(), 'accouch-sync-log-')), 'syncs');
      const slow = await startServer({ dataDir: setup.dataDir, env: { LD_PRELOAD: buildShim(), BENCH_FSYNC_DELAY_MS: '300', BENCH_FSYNC_LOG: syncLog } });
      try {
        const syncsOfTheLog = () => {
          let lines: string[] = [];
          try {
            lines = readFileSync(syncLog, 'utf8').split('\n');
          } catch {
            // no sync yet
          }
          return lines.filter((line) => /^(fsync|fdatasync) .*accouch\.sqlite-wal$/.test(line)).length;
        };
        const before = syncsOfTheLog();
        const res = await fetch(`${slow.issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        expect(res.status).toBe(200);
        expect(syncsOfTheLog()).toBeGreaterThan(before);
      } finally {
        await stopCleanly(slow);
      }
    });
  });
});
