// A full disk under PostgreSQL (the e2e-postgres project only): the server's tables and indexes move to a tablespace
// on a small tmpfs this test mounts (it runs as root), the tmpfs is filled to the last byte, and the next write
// fails for real in PostgreSQL with SQLSTATE 53100 (disk_full). The answer is the same clear 503 as on SQLite, as
// JSON and as a page, with its log line; reads go on, and writes work again once space is freed.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { dropDatabase } from '../postgres/databases.js';
import { fillToLastByte } from './support/full-disk.js';
import { addClient } from './support/rp.js';
import { startServer, type RunningServer } from './support/server.js';

/** Waits until the server has printed what `check` looks for (its output arrives through a pipe, a little later). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    expect(Date.now(), `waiting for ${what}`).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a full disk under PostgreSQL', () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'accouch-pg-full-'));
  const tablespace = `accouch_full_${randomBytes(4).toString('hex')}`;
  let mounted = false;
  let server: RunningServer | undefined;
  let admin: pg.Client | undefined;
  afterAll(async () => {
    await server?.stop();
    await admin?.end();
    if (server) await dropDatabase(basename(server.dataDir));
    const cluster = new pg.Client({ connectionString: inject('postgres').adminUrl });
    await cluster.connect();
    await cluster.query(`drop tablespace if exists ${tablespace}`);
    await cluster.end();
    if (mounted) spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers a write with a clear 503 (JSON and page) and a log line, while reads go on', async () => {
    // The server runs as the account that owns its socket directory; its tablespace directory must be that account's.
    const socketDir = new URL(inject('postgres').adminUrl).searchParams.get('host')!;
    const { uid, gid } = statSync(socketDir);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    expect(mount.status, `mounting a tmpfs needs root: ${mount.stderr}`).toBe(0);
    mounted = true;
    const location = join(mountPoint, 'tablespace');
    mkdirSync(location, { mode: 0o700 });
    chownSync(location, uid, gid);

    server = await startServer();
    const secret = addClient(server, 'svc', ['--client-credentials'])!;
    addClient(server, 'web', ['--redirect-uri', 'https://app.example/cb']);
    const auth = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`;
    const token = () => fetch(`${server!.issuer}/token`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'grant_type=client_credentials',
    });
    const first = await token();
    expect(first.status).toBe(200);
    const { access_token: issued } = (await first.json()) as { access_token: string };

    // Every table and index of the server's database onto the tmpfs, then the tmpfs filled.
    admin = new pg.Client({ connectionString: server.env.ACCOUCH_DATABASE_URL });
    await admin.connect();
    await admin.query(`create tablespace ${tablespace} location '${location}'`);
    await admin.query(`alter table all in tablespace pg_default set tablespace ${tablespace}`);
    await admin.query(`alter index all in tablespace pg_default set tablespace ${tablespace}`);
    const filler = join(mountPoint, 'filler');
    fillToLastByte(filler);

    // Tokens until a new one no longer fits in the table's last page.
    let refusal: Response | undefined;
    for (let i = 0; i < 300 && !refusal; i += 1) {
      const res = await token();
      if (res.status === 200) await res.arrayBuffer();
      else refusal = res;
    }
    expect(refusal?.status).toBe(503);
    expect(refusal!.headers.get('content-type')).toMatch(/application\/json/);
    expect(await refusal!.json()).toMatchObject({ error: 'unavailable', message: expect.stringContaining('its disk is full') });
    await until(() => server!.output().includes('"event":"storage.unavailable"'), 'the failed write logged');
    // The line names PostgreSQL's own error (disk_full: "could not extend file ...: No space left on device").
    expect(server.output()).toMatch(/"event":"storage.unavailable".*No space left on device/);

    // A browser starting a sign-in (the authorization request stores an interaction) gets the page.
    const authorize = new URL('/auth', server.issuer);
    authorize.search = new URLSearchParams({
      client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).toString();
    const page = await fetch(authorize, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('its disk is full');

    // Reads go on: discovery, keys, introspection of a token issued before the disk filled.
    expect((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${server.issuer}/jwks`)).status).toBe(200);
    const introspect = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${issued}`,
    });
    expect(introspect.status).toBe(200);
    expect(await introspect.json()).toMatchObject({ active: true });

    // Space comes back: writes work again.
    rmSync(filler);
    expect((await token()).status).toBe(200);
  });
});
