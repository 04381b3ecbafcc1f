// oidc_payloads on SQLite: its indexes hold only the rows they are searched for (tokens, the most written rows, stay
// out of the user code, uid and account indexes), and every search still finds its index.
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { createAdapterClass } from '../../../src/oidc/adapter.js';
import { listAccountPayloads } from '../../../src/store/oidc-payloads.js';
import { openTestDb } from '../helpers.js';

const plan = async (db: Awaited<ReturnType<typeof openTestDb>>, query: string) =>
  (await sql<{ detail: string }>`explain query plan ${sql.raw(query)}`.execute(db)).rows.map((r) => r.detail).join('; ');

describe('oidc_payloads on SQLite', () => {
  test('every search by grant, user code, uid or account uses its partial index', async () => {
    const db = await openTestDb();
    expect(await plan(db, `select payload from oidc_payloads where model = 'Session' and uid = 'u'`)).toContain('USING INDEX oidc_payloads_uid');
    expect(await plan(db, `select payload from oidc_payloads where model = 'DeviceCode' and user_code = 'c'`)).toContain('USING INDEX oidc_payloads_user_code');
    expect(await plan(db, `delete from oidc_payloads where grant_id = 'g'`)).toContain('USING INDEX oidc_payloads_grant_id');
    expect(await plan(db, `select payload from oidc_payloads where account_id = 'a' and model = 'Grant'`)).toContain('USING INDEX oidc_payloads_account');
    const { rows } = await sql<{ name: string; partial: number }>`select name, partial from pragma_index_list('oidc_payloads')`.execute(db);
    expect(Object.fromEntries(rows.map((r) => [r.name, r.partial]))).toMatchObject({
      oidc_payloads_uid: 1, oidc_payloads_user_code: 1, oidc_payloads_grant_id: 1, oidc_payloads_account: 1,
    });
  });

  test('a token keeps no account (so it stays out of the account index); sessions and grants are listed by account', async () => {
    const db = await openTestDb();
    const Adapter = createAdapterClass(db);
    await new Adapter('AccessToken').upsert('at-1', { kind: 'AccessToken', accountId: 'sub-1', clientId: 'app', grantId: 'g1' }, 3600);
    await new Adapter('ClientCredentials').upsert('cc-1', { kind: 'ClientCredentials', clientId: 'app' }, 3600);
    await new Adapter('Grant').upsert('g1', { kind: 'Grant', accountId: 'sub-1', clientId: 'app' }, 3600);
    await new Adapter('Session').upsert('s1', { kind: 'Session', accountId: 'sub-1', uid: 'uid-1' }, 3600);

    const { rows } = await sql<{ model: string; account_id: string | null }>`select model, account_id from oidc_payloads order by model`.execute(db);
    expect(rows).toEqual([
      { model: 'AccessToken', account_id: null }, { model: 'ClientCredentials', account_id: null },
      { model: 'Grant', account_id: 'sub-1' }, { model: 'Session', account_id: 'sub-1' },
    ]);
    expect((await listAccountPayloads(db, 'sub-1', 'Grant')).map((p) => p.id)).toEqual(['g1']);
    expect((await listAccountPayloads(db, 'sub-1', 'Session')).map((p) => p.id)).toEqual(['s1']);
    expect(await new Adapter('Session').findByUid('uid-1')).toMatchObject({ accountId: 'sub-1' });
    // The grant's tokens still go with it.
    await new Adapter('AccessToken').revokeByGrantId('g1');
    expect(await new Adapter('AccessToken').find('at-1')).toBeUndefined();
  });
});
