// The embedded database's write path: writes on the writer thread, durable before they are acknowledged (or, in a
// request scope, before the request settles), reads of one's own writes, transactions that run alone.
import SQLite from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { requestWritesOf } from '../../../src/store/db.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';
import { sqliteFileOf } from '../../../src/store/dialect.js';
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

const user = (username: string) => ({ username, name: username, email: null, passwordHash: null, groups: [] });

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
});
