// findAccount and the claims it gives oidc-provider: who has an account for which client, and the network claim
// from the sign-in the token came from.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { describe, expect, test } from 'vitest';
import { createFindAccount } from '../../../src/oidc/account.js';
import { requestWritesOf } from '../../../src/store/db.js';
import { upsertPayload } from '../../../src/store/oidc-payloads.js';
import { recordSignIn } from '../../../src/store/sign-ins.js';
import { createUser, updateProfile } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const issuer = 'https://id.example.com';
const ctxFor = (allowedGroups?: string[]) => ({ oidc: { client: { accouch_allowed_groups: allowedGroups } } }) as unknown as KoaContextWithOIDC;

describe('findAccount', () => {
  test('the claims carry the network of the sign-in the token came from, also when asked for after a write of the request', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'nina', name: 'Nina', email: 'nina@example.com', passwordHash: null, groups: ['family'] });
    await recordSignIn(db, { accountId: user.id, authTime: 1_800_000_000, network: 'home', amr: ['pwd'], acr: 'password' });
    const findAccount = createFindAccount(db, issuer);
    const writes = requestWritesOf(db);
    // As at the token endpoint: the account is found, the code or refresh token consumed, then the claims made.
    const claims = await writes.run(async () => {
      const account = await findAccount(ctxFor(), user.id, { authTime: 1_800_000_000 } as object);
      await upsertPayload(db, 'RefreshToken', 'rt-1', { kind: 'RefreshToken' }, null);
      const made = await account!.claims('id_token', 'openid network', {}, []);
      await writes.settle();
      return made;
    });
    expect(claims).toMatchObject({ sub: user.id, network: 'home', groups: ['family'], email: 'nina@example.com' });
  });

  test('a token from a sign-in with no record has no network claim', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'omar', name: 'Omar', email: null, passwordHash: null, groups: [] });
    const account = await createFindAccount(db, issuer)(ctxFor(), user.id, { authTime: 1_700_000_000 } as object);
    const claims = await account!.claims('userinfo', 'openid network', {}, []);
    expect(claims).not.toHaveProperty('network');
  });

  test('a disabled user and a user outside the client\'s groups have no account', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'pia', name: 'Pia', email: null, passwordHash: null, groups: ['kids'] });
    const findAccount = createFindAccount(db, issuer);
    expect(await findAccount(ctxFor(['family']), user.id)).toBeUndefined();
    expect((await findAccount(ctxFor(['kids']), user.id))?.accountId).toBe(user.id);
    await updateProfile(db, user.id, { disabled: true });
    expect(await findAccount(ctxFor(['kids']), user.id)).toBeUndefined();
  });
});
