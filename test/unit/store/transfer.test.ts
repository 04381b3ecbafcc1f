// Export and import through kysely: every row arrives, bytes survive JSON, a non-empty target is refused
// unless replaced, and a damaged export leaves the target as it was.
import { describe, expect, test } from 'vitest';
import { recordAudit } from '../../../src/store/audit.js';
import { createUser, listUsers } from '../../../src/store/users.js';
import { exportDatabase, importDatabase, transferTables } from '../../../src/store/transfer.js';
import { isPostgres, type Db } from '../../../src/store/db.js';
import { openTestDb } from '../helpers.js';

async function exportLines(db: Db): Promise<string[]> {
  const lines: string[] = [];
  await exportDatabase(db, async (line) => { lines.push(line); }, { note: 'carried' });
  return lines;
}

async function* iterate(lines: string[]) {
  yield* lines;
}

async function everyRow(db: Db) {
  const out: Record<string, unknown[]> = {};
  for (const { table, key } of transferTables) {
    let query = db.selectFrom(table).selectAll();
    for (const column of key) query = query.orderBy(column as never);
    out[table] = await query.execute();
  }
  return out;
}

describe('export and import', () => {
  test('every table arrives as it was, bytes included, with the header\'s extras', async () => {
    const source = await openTestDb();
    const alice = await createUser(source, { username: 'alice', name: 'Alice', groups: ['family', 'admins'] });
    await recordAudit(source, { event: 'login.success', actor: alice.id, detail: { factors: ['password'] } }, 100);
    // A BLOB in a text column (SQLite stores what it is given): exported as base64, imported as bytes.
    // PostgreSQL refuses bytes in a text column, so there the row holds text and travels as text.
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const data = isPostgres(source) ? bytes.toString('base64') : bytes;
    await source.insertInto('avatars').values({ user_id: alice.id, content_type: 'image/png', data: data as never, etag: 'e', updated_at: 1 }).execute();
    const lines = await exportLines(source);
    expect(lines.some((l) => l.includes(isPostgres(source) ? '"data":"AAEC+v8="' : '"$base64":"AAEC+v8="'))).toBe(true);

    const target = await openTestDb();
    const header = await importDatabase(target, iterate(lines), { replace: false });
    expect(header.extras).toEqual({ note: 'carried' });
    expect(await everyRow(target)).toEqual(await everyRow(source));
    const avatar = await target.selectFrom('avatars').select('data').executeTakeFirstOrThrow();
    expect(isPostgres(target) ? Buffer.from(avatar.data, 'base64') : Buffer.from(avatar.data as unknown as Uint8Array)).toEqual(bytes);
    // The audit log goes on after the imported ids.
    await recordAudit(target, { event: 'keys.rotated' });
    expect((await target.selectFrom('audit_log').select('id').orderBy('id').execute()).map((r) => r.id)).toEqual([1, 2]);
  });

  test('a non-empty database is refused unless replaced; then it holds only the export', async () => {
    const source = await openTestDb();
    await createUser(source, { username: 'alice', name: 'Alice' });
    const lines = await exportLines(source);
    const target = await openTestDb();
    await createUser(target, { username: 'bob', name: 'Bob' });
    await expect(importDatabase(target, iterate(lines), { replace: false })).rejects.toMatchObject({ code: 'conflict' });
    expect((await listUsers(target)).map((u) => u.username)).toEqual(['bob']);
    await importDatabase(target, iterate(lines), { replace: true });
    expect((await listUsers(target)).map((u) => u.username)).toEqual(['alice']);
  });

  test('a truncated, altered or foreign file changes nothing and says why', async () => {
    const source = await openTestDb();
    await createUser(source, { username: 'alice', name: 'Alice' });
    await createUser(source, { username: 'carol', name: 'Carol' });
    const lines = await exportLines(source);
    const target = await openTestDb();
    const attempt = (input: string[]) => importDatabase(target, iterate(input), { replace: false });
    await expect(attempt(lines.slice(0, -1))).rejects.toThrow('truncated');
    const withoutOneUser = lines.filter((l, i) => !(i > 0 && l.includes('"username":"carol"')));
    await expect(attempt(withoutOneUser)).rejects.toThrow('users has 1 rows, the header says 2');
    const injected = lines.map((l) => l.replace('"username":"alice"', '"username":"alice","is_admin":1'));
    await expect(attempt(injected)).rejects.toThrow('users has no column is_admin');
    await expect(attempt(['{"hello":"world"}'])).rejects.toThrow('not an Accouch export');
    const header = JSON.parse(lines[0]!);
    await expect(attempt([JSON.stringify({ ...header, migrations: ['2020_01_01_000000_other'] }), ...lines.slice(1)])).rejects.toThrow('another Accouch version');
    expect(await listUsers(target)).toEqual([]);
  });
});
