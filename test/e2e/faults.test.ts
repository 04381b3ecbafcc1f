// Faults that cost nothing: hostile bodies and stalled clients get a 4xx logged at info, a damaged database is
// refused at start without a byte written, and a full disk turns writes into a clear 503 while reads go on and
// nothing half-written survives. The full disk is a real one: a small tmpfs this test mounts (it runs as root).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { fillToLastByte } from './support/full-disk.js';
import { Agent } from './support/agent.js';
import { addClient, addUser, signIn } from './support/rp.js';
import { logLines, runCli, sqliteOnly, startServer, stopCleanly, mainJs, until, type RunningServer } from './support/server.js';

/** Sends `chunks` over a raw connection, one every `gapMs`, and resolves with what the server answered. */
function trickle(port: number, chunks: string[], gapMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (data) => { answer += data.toString(); });
    socket.on('close', () => { clearTimeout(timer); resolve(answer); });
    socket.on('error', reject);
    const send = (i: number) => {
      if (i >= chunks.length || socket.destroyed) return;
      socket.write(chunks[i]!);
      timer = setTimeout(() => send(i + 1), gapMs);
    };
    socket.on('connect', () => send(0));
  });
}

sqliteOnly(() => {
  describe('hostile and slow clients', () => {
    let server: RunningServer;
    afterAll(async () => { await stopCleanly(server); });

    it('answers malformed JSON, prototype keys and oversized bodies with 400/413, logged at info without a stack', async () => {
      server = await startServer({ env: { ACCOUCH_TIMEOUTS_HEADERS: '1', ACCOUCH_TIMEOUTS_REQUEST: '2' } });
      const post = (body: string) => fetch(`${server.issuer}/setup/webauthn/options`, {
        method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': `probe-${body.length}` }, body,
      });
      const proto = await post('{"__proto__":{"admin":true}}');
      expect(proto.status).toBe(400);
      expect(await proto.json()).toMatchObject({ message: expect.stringContaining('forbidden key') });
      const broken = await post('{"name": ');
      expect(broken.status).toBe(400);
      expect(await broken.json()).toMatchObject({ message: 'The request body is not valid JSON.' });
      const big = await post(JSON.stringify({ name: 'x'.repeat(200_000) }));
      expect(big.status).toBe(413);

      const probeLines = () => logLines(server).filter((l) => String(l.reqId ?? '').startsWith('probe-') && l.event === 'http.rejected');
      await until(() => probeLines().length >= 3, 'three refusals logged');
      const refused = probeLines();
      expect(refused.map((l) => l.status).sort()).toEqual([400, 400, 413]);
      expect(refused.every((l) => l.level === 30 && !JSON.stringify(l).includes('stack'))).toBe(true);
    });

    it('answers GET on POST-only endpoints with 405 invalid_request', async () => {
      const res = await fetch(`${server.issuer}/device/auth`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    });

    it('cuts off a client that sends its headers or its body too slowly with 408', async () => {
      const headers = await trickle(server.port, ['GET /healthz HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n', 'X-C: 3\r\n', 'X-D: 4\r\n', 'X-E: 5\r\n', '\r\n'], 400);
      expect(headers).toMatch(/^HTTP\/1\.1 408 /);
      const body = await trickle(server.port, [
        'POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n',
        ...Array.from({ length: 40 }, () => 'a'),
      ], 400);
      expect(body).toMatch(/^HTTP\/1\.1 408 /);
      const timeouts = () => logLines(server).filter((l) => l.event === 'http.rejected' && l.error === 'ERR_HTTP_REQUEST_TIMEOUT');
      await until(() => timeouts().length >= 2, 'two timeouts logged');
      const rejected = timeouts();
      expect(rejected.every((l) => l.level === 30)).toBe(true);
    });
  });

  describe('a damaged database', () => {
    it('is refused at start with a clear message and a non-zero exit, and left untouched', async () => {
      const server = await startServer();
      addUser(server, 'alice', 'alice password 1');
      expect(await server.stop()).toBe(0);
      const file = join(server.dataDir, 'accouch.sqlite');
      // Scribble over the middle of the file: b-tree pages, not the header.
      const size = statSync(file).size;
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(4096 * 3, 0x5a), 0, 4096 * 3, Math.floor(size / 4096 / 2) * 4096);
      closeSync(fd);
      const before = createHash('sha256').update(readFileSync(file)).digest('hex');

      const result = spawnSync(process.execPath, [mainJs, 'serve'], { env: { PATH: process.env.PATH!, ...server.env }, encoding: 'utf8', timeout: 30_000 });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('is damaged (PRAGMA quick_check');
      expect(result.stderr).toContain('changed nothing');
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
      expect(existsSync(`${file}-wal`)).toBe(false);
    });
  });

  describe('a full disk', () => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'accouch-full-'));
    let mounted = false;
    afterAll(() => {
      if (mounted) spawnSync('umount', ['-l', mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    });

    it('turns writes into a clear 503 while reads go on, and loses nothing that was answered', async () => {
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mountPoint], { encoding: 'utf8' });
      expect(mount.status, `mounting a tmpfs needs root: ${mount.stderr}`).toBe(0);
      mounted = true;
      const dataDir = join(mountPoint, 'data');
      mkdirSync(dataDir);
      // Set up through the CLI first: it closes the database, so the server starts with an empty write-ahead log.
      const env = { ACCOUCH_DATA_DIR: dataDir, ACCOUCH_ISSUER: 'http://localhost:1' };
      expect(runCli(env, ['user', 'add', 'bob', '--name', 'Bob', '--password-stdin'], 'bob password 1\n').status).toBe(0);
      // The proxy on loopback is trusted; the sign-in page asks for a username (no tiles).
      let server = await startServer({ dataDir, env: { ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1,::1', ACCOUCH_LOGIN_SHOW_USER_LIST: 'false' } });
      const secret = addClient(server, 'svc', ['--client-credentials'])!;
      // A forward-auth app: Bob signs in and comes back with the single-use code the proxy's check trades for a cookie.
      expect(server.cli(['app', 'add', 'forward-auth', '--url', 'https://notes.home.test', '--id', 'notes']).status).toBe(0);
      const landed = await signIn(new Agent(), server, new URL(`${server.issuer}/forward-auth/start?rd=${encodeURIComponent('https://notes.home.test/wiki')}`), 'bob', 'bob password 1');
      expect(landed.pathname).toBe('/.accouch-auth/callback');
      const trade = (accept: string) => fetch(`${server.issuer}/forward-auth/traefik`, {
        redirect: 'manual',
        headers: {
          accept, 'sec-fetch-mode': 'navigate', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'notes.home.test',
          'x-forwarded-uri': landed.pathname + landed.search, 'x-forwarded-for': '192.168.1.20',
        },
      });
      const auth = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`;
      const token = () => fetch(`${server.issuer}/token`, {
        method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: 'grant_type=client_credentials',
      });
      const answered: string[] = [];
      const first = await token();
      expect(first.status).toBe(200);
      answered.push(((await first.json()) as { access_token: string }).access_token);

      // Fill the disk to the last block.
      const filler = join(mountPoint, 'filler');
      fillToLastByte(filler);

      let refusal: Response | undefined;
      for (let i = 0; i < 200 && !refusal; i += 1) {
        const res = await token();
        if (res.status === 200) answered.push(((await res.json()) as { access_token: string }).access_token);
        else refusal = res;
      }
      expect(refusal?.status).toBe(503);
      expect(await refusal!.text()).toContain('its disk is full');
      // The provider's answer is gone from it; what every answer carries is not.
      expect(refusal!.headers.get('content-type')).toBe('application/json');
      expect(refusal!.headers.get('x-request-id')).toMatch(/^[\w-]+$/);
      expect(refusal!.headers.get('x-frame-options')).toBe('DENY');
      await until(() => server.output().includes('"event":"storage.unavailable"'), 'the failed write logged');
      // The proxy's check cannot save the code's use either: a 503 in the form asked for, and no cookie for the app.
      for (const [accept, type] of [['application/json', 'application/json'], ['text/html', 'text/html']]) {
        const refused = await trade(accept);
        expect(refused.status, accept).toBe(503);
        expect(refused.headers.get('content-type'), accept).toContain(type);
        expect(await refused.text(), accept).toContain('its disk is full');
        expect(refused.headers.get('set-cookie'), accept).toBeNull();
        expect(refused.headers.get('location'), accept).toBeNull();
      }

      // Reads go on: discovery, keys, introspection of a token issued before; readiness says no.
      expect((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status).toBe(200);
      expect((await fetch(`${server.issuer}/jwks`)).status).toBe(200);
      const introspect = await fetch(`${server.issuer}/token/introspection`, {
        method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${answered[0]}`,
      });
      expect(await introspect.json()).toMatchObject({ active: true });
      expect((await fetch(`${server.issuer}/readyz`)).status).toBe(503);

      // Space comes back: ready again, writes work again, and every token answered with a 200 is there.
      rmSync(filler);
      expect((await fetch(`${server.issuer}/readyz`)).status).toBe(200);
      expect((await token()).status).toBe(200);
      // Nothing was half-written: the code the check could not use is still good, once.
      const traded = await trade('text/html');
      expect(traded.status).toBe(302);
      expect(traded.headers.get('set-cookie')).toMatch(/^accouch_fa=/);
      expect(traded.headers.get('location')).toBe('https://notes.home.test/wiki');
      expect(await server.stop()).toBe(0);
      const db = new SQLite(join(dataDir, 'accouch.sqlite'), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
      server = await startServer({ dataDir });
      for (const accessToken of answered) {
        const res = await fetch(`${server.issuer}/token/introspection`, {
          method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${accessToken}`,
        });
        expect(await res.json()).toMatchObject({ active: true });
      }
      await stopCleanly(server);
    });
  });
});
