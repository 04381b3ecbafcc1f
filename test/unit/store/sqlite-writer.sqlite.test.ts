// The embedded database's write path: writes on the writer thread, durable before they are acknowledged (or, in a
// request scope, before the request settles), reads of one's own writes, transactions that run alone.
import SQLite from 'better-sqlite3';
import { describe, expect, onTestFinished, test } from 'vitest';
import { databaseFile, openDatabase, requestWritesOf } from '../../../src/store/db.js';
import { ensureNotInUse } from '../../../src/store/sqlite-file.js';
import { migrateToLatest } from '../../../src/store/migrate.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb, tempDir } from '../helpers.js';
import { sqliteFileOf } from '../../../src/store/dialect.js';
import { prepared } from '../../../src/store/prepared.js';
import { consumePayload, findPayload, upsertPayload } from '../../../src/store/oidc-payloads.js';
import type { Db } from '../../../src/store/db.js';

/** What another process opening the file sees: only committed data. */
async function committedUsernames(db: Db): Promise<string[]> {
  const other = new SQLite(await sqliteFileOf(db), { readonly: true });
  try {
    return (other.prepare('select username from users order by username').all() as Array<{ username: string }>).map((r) => r.username);
  } finally {
    other.close();
  }
}

/** A write whose result nobody reads: inside a request it is sent without waiting for the writer thread. */
const renameUnanswered = prepared(2, (db, id: string, username: string) => db.updateTable('users').set({ username }).where('id', '=', id), { resultUnused: true });

const user = (username: string) => ({ username, name: username, email: null, passwordHash: null, groups: [] });

/** A database whose requests may hold a commit for a minute: a test that waited for the hold to run out would time out. */
async function openHoldingDb(): Promise<Db> {
  const db = openDatabase({ dataDir: tempDir() }, { writer: { maxHoldMs: 60_000 } });
  await migrateToLatest(db);
  return db;
}

/** Resolves when `promise` has settled, or with 'pending' after the writer thread has had a few turns to act. */
async function stateOf(promise: Promise<unknown>, db: Db): Promise<'done' | 'pending'> {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  // Round trips through the writer thread (its readiness probe): anything it was going to answer by now, it has.
  for (let i = 0; i < 5; i++) await requestWritesOf(db).writable();
  return done ? 'done' : 'pending';
}

describe('the SQLite writer', () => {
  test('a write outside a request is committed when it resolves', async () => {
    const db = await openTestDb();
    await createUser(db, user('alice'));
    expect(await committedUsernames(db)).toEqual(['alice']);
  });

  test('in a request, writes are readable by that request at once and committed when it settles', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    const seen = await writes.run(async () => {
      const created = await createUser(db, user('bob'));
      const ownRead = await findUserById(db, created.id);
      const before = await committedUsernames(db);
      await writes.settle();
      return { ownRead: ownRead?.username, before, after: await committedUsernames(db) };
    });
    expect(seen).toEqual({ ownRead: 'bob', before: [], after: ['bob'] });
  });

  test('concurrent requests all get their writes on disk, whatever commit they share', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    await Promise.all(Array.from({ length: 20 }, (_, i) => writes.run(async () => {
      await createUser(db, user(`u${String(i).padStart(2, '0')}`));
      await writes.settle();
    })));
    expect(await committedUsernames(db)).toEqual(Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}`));
  });

  test('a failed statement does not undo the writes of others in the same group', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    const results = await Promise.allSettled([
      writes.run(async () => { await createUser(db, user('carol')); await writes.settle(); }),
      writes.run(async () => { await createUser(db, user('carol')); await writes.settle(); }),
      writes.run(async () => { await createUser(db, user('dave')); await writes.settle(); }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await committedUsernames(db)).toEqual(['carol', 'dave']);
  });

  test('a rolled back transaction leaves nothing, while writes made beside it stay', async () => {
    const db = await openTestDb();
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const failing = db.transaction().execute(async (trx) => {
      await createUser(trx, user('erin'));
      await held;
      throw new Error('changed my mind');
    });
    const beside = createUser(db, user('frank'));
    release();
    await expect(failing).rejects.toThrow('changed my mind');
    await beside;
    expect(await committedUsernames(db)).toEqual(['frank']);
  });

  test('a request\'s writes go to disk in one commit, even when another request settles between two of them', async () => {
    const db = await openHoldingDb();
    const writes = requestWritesOf(db);
    let wroteFirst!: () => void;
    const firstWritten = new Promise<void>((resolve) => { wroteFirst = resolve; });
    let goOn!: () => void;
    const mayGoOn = new Promise<void>((resolve) => { goOn = resolve; });
    const slow = writes.run(async () => {
      await createUser(db, user('gina'));
      wroteFirst();
      await mayGoOn;
      await createUser(db, user('hugo'));
      await writes.settle();
    });
    await firstWritten;
    const quick = writes.run(async () => {
      await createUser(db, user('ines'));
      await writes.settle();
    });
    // The quick request waits: committing now would put gina on disk without hugo.
    expect(await stateOf(quick, db)).toBe('pending');
    expect(await committedUsernames(db)).not.toContain('gina');
    goOn();
    await Promise.all([slow, quick]);
    expect(await committedUsernames(db)).toEqual(expect.arrayContaining(['gina', 'hugo', 'ines']));
  });

  test('a request that fails before it settles lets go of the commit at once', async () => {
    const db = await openHoldingDb();
    const writes = requestWritesOf(db);
    await expect(writes.run(async () => {
      await createUser(db, user('jack'));
      throw new Error('the request failed');
    })).rejects.toThrow('the request failed');
    // With a one-minute hold, this settles only because the failed request let go.
    await writes.run(async () => {
      await createUser(db, user('kate'));
      await writes.settle();
    });
    expect(await committedUsernames(db)).toEqual(expect.arrayContaining(['jack', 'kate']));
  });

  test('a request holds the commit for at most its hold, then the others go on without it', async () => {
    const db = openDatabase({ dataDir: tempDir() }, { writer: { maxHoldMs: 50 } });
    await migrateToLatest(db);
    const writes = requestWritesOf(db);
    let finish!: () => void;
    const stuck = writes.run(async () => {
      await createUser(db, user('liam'));
      await new Promise<void>((resolve) => { finish = resolve; });
      await writes.settle();
    });
    await writes.run(async () => {
      await createUser(db, user('mona'));
      await writes.settle();
    });
    expect(await committedUsernames(db)).toEqual(expect.arrayContaining(['liam', 'mona']));
    finish();
    await stuck;
  });

  test('a write sent without waiting is read by its request and on disk once the request settles', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    const { id } = await createUser(db, user('nora'));
    const seen = await writes.run(async () => {
      await renameUnanswered(db, id, 'nadia');
      const ownRead = (await findUserById(db, id))?.username;
      await writes.settle();
      return { ownRead, after: await committedUsernames(db) };
    });
    expect(seen).toEqual({ ownRead: 'nadia', after: ['nadia'] });
  });

  test('a write sent without waiting that fails makes its request\'s settle fail, and only that request\'s', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    const { id } = await createUser(db, user('oscar'));
    await createUser(db, user('pia'));
    const [clash, other] = await Promise.allSettled([
      // The rename itself resolves (nobody waits for it); the UNIQUE violation reaches the settle.
      writes.run(async () => {
        await renameUnanswered(db, id, 'pia');
        await writes.settle();
      }),
      writes.run(async () => {
        await createUser(db, user('quinn'));
        await writes.settle();
      }),
    ]);
    expect(clash).toMatchObject({ status: 'rejected', reason: { code: 'SQLITE_CONSTRAINT_UNIQUE' } });
    expect(other.status).toBe('fulfilled');
    expect(await committedUsernames(db)).toEqual(['oscar', 'pia', 'quinn']);
  });

  test('after writing tokens alone, a request reads them as written and every other table as committed', async () => {
    const db = await openHoldingDb();
    const writes = requestWritesOf(db);
    // Another request's user, written into the open group and held there, not committed.
    let created!: (id: string) => void;
    const rita = new Promise<string>((resolve) => { created = resolve; });
    let goOn!: () => void;
    const mayGoOn = new Promise<void>((resolve) => { goOn = resolve; });
    const holding = writes.run(async () => {
      created((await createUser(db, user('rita'))).id);
      await mayGoOn;
      await writes.settle();
    });
    const ritaId = await rita;
    const expiresAt = Math.floor(Date.now() / 1000) + 60;
    const seen = await writes.run(async () => {
      await upsertPayload(db, 'AccessToken', 'token-1', { jti: 'token-1' }, expiresAt);
      const ownToken = await findPayload(db, 'AccessToken', 'id', 'token-1');
      // The writer's connection has rita in its open group; the read connection, only what is on disk.
      const otherUser = await findUserById(db, ritaId);
      goOn();
      await writes.settle();
      return { ownToken: ownToken?.payload, otherUser };
    });
    await holding;
    expect(seen).toEqual({ ownToken: { jti: 'token-1' }, otherUser: undefined });
    expect(await committedUsernames(db)).toEqual(['rita']);
  });

  test('oidc_payloads is written alone: no foreign key, trigger or view reaches it', async () => {
    // The writer sends a request's reads of other tables to the read connection after it wrote only tokens
    // (store/sqlite-writer.ts readsOwnWrites): a write there must not change any other table, nor a view.
    const db = await openTestDb();
    const file = new SQLite(await sqliteFileOf(db), { readonly: true });
    onTestFinished(() => file.close());
    const tables = file.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[];
    const referencing = tables.filter((table) => (file.pragma(`foreign_key_list("${table}")`) as Array<{ table: string }>)
      .some((key) => key.table.toLowerCase() === 'oidc_payloads'));
    expect(referencing, 'tables with a foreign key to oidc_payloads: readsOwnWrites must treat its writes as wide').toEqual([]);
    // Any trigger or view at all: one could reach oidc_payloads by a name this test cannot see (a view over a view).
    expect(file.prepare("select name from sqlite_master where type in ('trigger', 'view')").pluck().all(),
      'triggers and views: readsOwnWrites must learn which of them reach oidc_payloads').toEqual([]);
  });

  test('a request that wrote another table and then tokens still reads that table\'s own writes', async () => {
    const db = await openTestDb();
    const writes = requestWritesOf(db);
    const expiresAt = Math.floor(Date.now() / 1000) + 60;
    const { id } = await createUser(db, user('sam'));
    await upsertPayload(db, 'AuthorizationCode', 'code-1', { jti: 'code-1' }, expiresAt);
    const seen = await writes.run(async () => {
      // Each kind of write, answered and sent without waiting, followed by a token write of the same kind.
      const created = await createUser(db, user('tess'));
      expect(await consumePayload(db, 'AuthorizationCode', 'code-1')).toBe(true);
      const afterAnswered = (await findUserById(db, created.id))?.username;
      await renameUnanswered(db, id, 'samuel');
      await upsertPayload(db, 'AccessToken', 'token-2', { jti: 'token-2' }, expiresAt);
      const ownReads = [afterAnswered, (await findUserById(db, id))?.username];
      // A write made while the settle waits: read as written, though it came after the settle cleared the request.
      const settled = writes.settle();
      await renameUnanswered(db, created.id, 'tessa');
      const duringSettle = (await findUserById(db, created.id))?.username;
      await settled;
      await writes.settle();
      return { ownReads, duringSettle };
    });
    expect(seen).toEqual({ ownReads: ['tess', 'samuel'], duringSettle: 'tessa' });
    expect(await committedUsernames(db)).toEqual(['samuel', 'tessa']);
  });

  test('a database used only through prepared statements is closed by destroy()', async () => {
    const dataDir = tempDir();
    const setup = openDatabase({ dataDir });
    await migrateToLatest(setup);
    await setup.destroy();
    const db = openDatabase({ dataDir });
    expect(await findUserById(db, 'nobody')).toBeUndefined();
    await db.destroy();
    // Another process could take the file for itself now: no connection of ours is left open.
    expect(() => ensureNotInUse(databaseFile(dataDir))).not.toThrow();
  });

  describe('reads answered again until something is committed', () => {
    const byId = prepared(1, (db, id: string) => db.selectFrom('users').select(['id', 'username']).where('id', '=', id), { cacheable: true });

    test('the same read gives the same frozen rows while nothing is committed, fresh rows after a commit of ours', async () => {
      const db = await openTestDb();
      const ann = await createUser(db, user('ann'));
      const first = (await byId(db, ann.id)).rows;
      expect(first).toEqual([{ id: ann.id, username: 'ann' }]);
      expect((await byId(db, ann.id)).rows).toBe(first);
      expect(Object.isFrozen(first[0])).toBe(true);
      expect(() => { (first[0] as { username: string }).username = 'x'; }).toThrow(TypeError);
      // Other values are other reads.
      expect((await byId(db, 'nobody')).rows).toEqual([]);

      await renameUnanswered(db, ann.id, 'anne');
      expect((await byId(db, ann.id)).rows).toEqual([{ id: ann.id, username: 'anne' }]);
    });

    /** Another process's connection to `db`'s file, to commit from outside at a chosen moment (synchronously). */
    async function otherProcess(db: Db) {
      const other = new SQLite(await sqliteFileOf(db));
      onTestFinished(() => void other.close());
      const rename = other.prepare('update users set username = ? where id = ?');
      return (id: string, username: string) => void rename.run(username, id);
    }
    const byIdUncached = prepared(1, (db, id: string) => db.selectFrom('users').select(['id', 'username']).where('id', '=', id));

    // The version is checked once per turn of the event loop, request, writer answer or uncached read (ReadCache):
    // each way another commit can become known here is one of those.
    test('a commit by another process is seen by the next request, even in the same turn of the event loop', async () => {
      const db = await openTestDb();
      const bea = await createUser(db, user('bea'));
      const commit = await otherProcess(db);
      expect((await byId(db, bea.id)).rows).toEqual([{ id: bea.id, username: 'bea' }]);
      commit(bea.id, 'beatrice');
      const seen = await requestWritesOf(db).run(async () => (await byId(db, bea.id)).rows);
      expect(seen).toEqual([{ id: bea.id, username: 'beatrice' }]);
    });

    test('a commit by another process is seen by any read from the next turn of the event loop on', async () => {
      const db = await openTestDb();
      const bo = await createUser(db, user('bo'));
      const commit = await otherProcess(db);
      expect((await byId(db, bo.id)).rows).toEqual([{ id: bo.id, username: 'bo' }]);
      commit(bo.id, 'bonnie');
      await new Promise((resolve) => setImmediate(resolve));
      expect((await byId(db, bo.id)).rows).toEqual([{ id: bo.id, username: 'bonnie' }]);
    });

    test('a kept answer is never older than an uncached read made before it', async () => {
      const db = await openTestDb();
      const di = await createUser(db, user('di'));
      const commit = await otherProcess(db);
      expect((await byId(db, di.id)).rows).toEqual([{ id: di.id, username: 'di' }]);
      commit(di.id, 'diana');
      expect((await byIdUncached(db, di.id)).rows).toEqual([{ id: di.id, username: 'diana' }]);
      expect((await byId(db, di.id)).rows).toEqual([{ id: di.id, username: 'diana' }]);
    });

    test('a commit of ours is seen by the next read once the writer answered it, in the same turn', async () => {
      const db = await openTestDb();
      const ed = await createUser(db, user('ed'));
      expect((await byId(db, ed.id)).rows).toEqual([{ id: ed.id, username: 'ed' }]);
      // The writer answers in a turn of its own; the read right after, in that turn, checks again.
      await db.updateTable('users').set({ username: 'edmund' }).where('id', '=', ed.id).execute();
      expect((await byId(db, ed.id)).rows).toEqual([{ id: ed.id, username: 'edmund' }]);
    });

    test('a request reads its own uncommitted writes, never a row kept from before them', async () => {
      const db = await openTestDb();
      const cy = await createUser(db, user('cy'));
      expect((await byId(db, cy.id)).rows).toEqual([{ id: cy.id, username: 'cy' }]);
      const writes = requestWritesOf(db);
      const seen = await writes.run(async () => {
        await renameUnanswered(db, cy.id, 'cyrus');
        const own = (await byId(db, cy.id)).rows;
        await writes.settle();
        return own;
      });
      expect(seen).toEqual([{ id: cy.id, username: 'cyrus' }]);
      expect((await byId(db, cy.id)).rows).toEqual([{ id: cy.id, username: 'cyrus' }]);
    });
  });
});
