// Users and groups: case-insensitive usernames, conflicts as AppError, sorted groups, random subject ids.
import { describe, expect, test } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { createUser, findUserById, findUserByUsername, listUsers } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

describe('users store', () => {
  test('createUser stores the username in lower case and finds it in any case', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: ' Alice ', name: 'Alice Liddell', email: 'alice@example.com', emailVerified: true });
    expect(user).toMatchObject({ username: 'alice', name: 'Alice Liddell', email: 'alice@example.com', emailVerified: true, disabled: false });
    expect((await findUserByUsername(db, 'ALICE'))?.id).toBe(user.id);
  });

  test('a username that differs only in case is a conflict', async () => {
    const db = await openTestDb();
    await createUser(db, { username: 'alice', name: 'Alice' });
    const duplicate = createUser(db, { username: 'ALICE', name: 'Other Alice' });
    await expect(duplicate).rejects.toBeInstanceOf(AppError);
    await expect(duplicate).rejects.toMatchObject({ code: 'conflict', status: 409 });
    expect(await listUsers(db)).toHaveLength(1);
  });

  test('groups come back sorted and without duplicates, from every lookup', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'bob', name: 'Bob', groups: ['media', 'admins', 'family', 'admins'] });
    const sorted = ['admins', 'family', 'media'];
    expect(user.groups).toEqual(sorted);
    expect((await findUserById(db, user.id))?.groups).toEqual(sorted);
    expect((await findUserByUsername(db, 'bob'))?.groups).toEqual(sorted);
    expect((await listUsers(db))[0]?.groups).toEqual(sorted);
  });

  test('a failed duplicate insert leaves no stray group rows behind', async () => {
    const db = await openTestDb();
    const first = await createUser(db, { username: 'alice', name: 'Alice', groups: ['family'] });
    await expect(createUser(db, { username: 'Alice', name: 'Alice 2', groups: ['admins'] })).rejects.toMatchObject({ code: 'conflict' });
    expect(await db.selectFrom('user_groups').selectAll().execute()).toEqual([{ user_id: first.id, group_name: 'family' }]);
  });

  test('subject ids are random, unguessable and distinct, never derived from the username', async () => {
    const db = await openTestDb();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await createUser(db, { username: `user${i}`, name: `User ${i}` })).id);
    expect(ids.size).toBe(20);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(id).not.toContain('user');
    }
    // Same username in two databases: different subjects.
    const again = await createUser(await openTestDb(), { username: 'user0', name: 'User 0' });
    expect(ids.has(again.id)).toBe(false);
  });
});
