// Reading a user on SQLite joins their picture's version (etag): it must come from the start of the picture's row,
// never from behind the picture's data (reading past it walks the data's overflow pages, tens of kB per read).
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { saveAvatar } from '../../../src/store/avatars.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

describe('a user read on SQLite', () => {
  test('finds the picture\'s version before the picture\'s data in its row', async () => {
    const db = await openTestDb();
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info('avatars') order by cid`.execute(db);
    const columns = rows.map((r) => r.name);
    expect(columns.at(-1)).toBe('data');
    expect(columns).toContain('etag');
    const user = await createUser(db, { username: 'rosa', name: 'Rosa' });
    const etag = await saveAvatar(db, user.id, 'image/png', Buffer.alloc(64 * 1024, 1), 1_800_000_000);
    expect((await findUserById(db, user.id))?.avatarEtag).toBe(etag);
  });
});
