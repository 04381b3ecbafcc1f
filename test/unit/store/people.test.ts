// The lock screen's reads of the household (on both engines): a bounded number of people, the most recent
// sign-ins first, prefix search on username and name, and every read through an index rather than a table scan.
import { CompiledQuery, sql, type Compilable } from 'kysely';
import { describe, expect, test } from 'vitest';
import { isPostgres, type Db } from '../../../src/store/db.js';
import { listPeople, listRecentPeople, peopleQueries, prefixEnd, recordLastSignIn, searchPeople } from '../../../src/store/people.js';
import { createUser, updateProfile } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const names = (rows: Array<{ username: string }>) => rows.map((r) => r.username);

async function household(db: Db, count: number) {
  const users = [];
  for (let i = 0; i < count; i += 1) users.push(await createUser(db, { username: `member${String(i).padStart(3, '0')}`, name: `Member ${i}` }));
  return users;
}

/** The engine's plan for a statement; PostgreSQL is told to avoid sequential scans (on a few rows it prefers them). */
async function planOf(db: Db, query: CompiledQuery): Promise<string> {
  if (!isPostgres(db)) {
    const { rows } = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]));
    return rows.map((r) => r.detail).join('\n');
  }
  return db.connection().execute(async (conn) => {
    await sql`set enable_seqscan = off`.execute(conn);
    try {
      const { rows } = await conn.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]));
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await sql`reset enable_seqscan`.execute(conn);
    }
  });
}

/** Fails when a query reads the users table without an index. */
async function expectIndexed(db: Db, query: Compilable<unknown>) {
  const statement = query.compile();
  const plan = await planOf(db, statement);
  if (isPostgres(db)) {
    expect(plan, statement.sql).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
    expect(plan, statement.sql).not.toMatch(/Seq Scan on users/);
  } else {
    expect(plan, statement.sql).toMatch(/(SEARCH|SCAN) users USING (COVERING )?INDEX/);
    expect(plan, statement.sql).not.toMatch(/SCAN users$|SCAN users\n/m);
    expect(plan, statement.sql).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
  }
}

describe('people store (the lock screen)', () => {
  test('listPeople: active users in username order, at most the limit', async () => {
    const db = await openTestDb();
    const [first, second] = await household(db, 5);
    await updateProfile(db, first!.id, { disabled: true });
    expect(names(await listPeople(db, 3))).toEqual(['member001', 'member002', 'member003']);
    expect(await listPeople(db, 1)).toEqual([{ id: second!.id, username: 'member001', name: 'Member 1', avatarEtag: null }]);
  });

  test('listRecentPeople: latest sign-in first, never-signed-in and disabled left out, at most the limit', async () => {
    const db = await openTestDb();
    const users = await household(db, 6);
    expect(await listRecentPeople(db, 4)).toEqual([]);
    const t = 1_900_000_000;
    for (const [i, at] of [[3, t], [1, t + 10], [5, t + 20], [0, t + 30], [2, t + 40]] as const) await recordLastSignIn(db, users[i]!.id, at);
    await recordLastSignIn(db, users[3]!.id, t + 50); // signs in again: first now
    expect(names(await listRecentPeople(db, 4))).toEqual(['member003', 'member002', 'member000', 'member005']);
    await updateProfile(db, users[2]!.id, { disabled: true });
    expect(names(await listRecentPeople(db, 10))).toEqual(['member003', 'member000', 'member005', 'member001']);
  });

  test('searchPeople: the start of a username or of a name, without case, each person once, at most the limit', async () => {
    const db = await openTestDb();
    await household(db, 30);
    const anna = await createUser(db, { username: 'asmith', name: 'Anna Smith' });
    await createUser(db, { username: 'annabel', name: 'Annabel Lee' });
    await createUser(db, { username: 'bob', name: 'Bob Anderson' });
    expect(names(await searchPeople(db, 'ANN', 10))).toEqual(['annabel', 'asmith']);
    expect(names(await searchPeople(db, 'anna s', 10))).toEqual(['asmith']);
    expect(names(await searchPeople(db, 'as', 10))).toEqual(['asmith']);
    expect(await searchPeople(db, 'smith', 10)).toEqual([]); // a prefix, not a substring: an index range
    expect(names(await searchPeople(db, 'member01', 10))).toEqual(Array.from({ length: 10 }, (_, i) => `member01${i}`));
    expect(names(await searchPeople(db, 'member', 4))).toEqual(['member000', 'member001', 'member002', 'member003']);
    // Both the username and the name start with "member0": still once each.
    expect(names(await searchPeople(db, 'member02', 20))).toHaveLength(10);
    expect(await searchPeople(db, '', 10)).toEqual([]);
    // LIKE's wildcards mean nothing here.
    expect(await searchPeople(db, '%', 10)).toEqual([]);
    expect(await searchPeople(db, 'a_', 10)).toEqual([]);
    await updateProfile(db, anna.id, { disabled: true });
    expect(names(await searchPeople(db, 'ann', 10))).toEqual(['annabel']);
  });

  test('searchPeople: names beyond ASCII, by the letters as typed', async () => {
    const db = await openTestDb();
    await createUser(db, { username: 'zoe', name: 'zoë 🌱 gardener' });
    await createUser(db, { username: 'zoey', name: 'Zoey' });
    expect(names(await searchPeople(db, 'zoë', 10))).toEqual(['zoe']);
    expect(names(await searchPeople(db, 'zoë 🌱', 10))).toEqual(['zoe']);
    expect(names(await searchPeople(db, 'zo', 10))).toEqual(['zoe', 'zoey']);
    // Whether the engine's lower() folds É or not, the name is found as it is written.
    await createUser(db, { username: 'elodie', name: 'Élodie Martin' });
    expect(names(await searchPeople(db, 'Élodie', 10))).toEqual(['elodie']);
    expect(names(await searchPeople(db, 'Él', 10))).toEqual(['elodie']);
  });

  test('prefixEnd is the first string after every string with the prefix', () => {
    expect(prefixEnd('ann')).toBe('ano');
    expect(prefixEnd('z')).toBe('{');
    expect(prefixEnd('a\u{d7ff}')).toBe('a\u{e000}');
    expect(prefixEnd('🌱')).toBe('🌲');
    expect('ann\u{10ffff}' < prefixEnd('ann')).toBe(true);
  });

  test('every query goes through an index, none scans the users table', async () => {
    const db = await openTestDb();
    await household(db, 40);
    await expectIndexed(db, peopleQueries.byUsername(db, 9));
    await expectIndexed(db, peopleQueries.recent(db, 8));
    await expectIndexed(db, peopleQueries.usernameRange(db, 'member1', prefixEnd('member1'), 11));
    await expectIndexed(db, peopleQueries.nameRange(db, 'member 1', prefixEnd('member 1'), 11));
    await expectIndexed(db, peopleQueries.nameRange(db, 'Élodie', prefixEnd('Élodie'), 11));
  });
});
