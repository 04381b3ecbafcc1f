// The one enrolment flow: links claimed by the first browser, nothing created before the credential's
// transaction, one owner whatever races (on SQLite one connection serialises; on PostgreSQL the pool runs the
// racers side by side, as replicas would), resets that replace every factor, codes generated once.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createResetLink, inviteUser, listAdminUsers } from '../../../src/auth/admin.js';
import {
  claimEnrolLink, claimState, codesToShow, finishEnrol, issueEnrolLink, openEnrolLink, openTotpOffer, personOf, purposeOfCode, saveEnrolCredential,
  saveEnrolProfile, sealTotpOffer, setupInProgress, setupNeeded, type EnrolLink,
} from '../../../src/auth/enrol.js';
import { hashPassword, verifyPassword } from '../../../src/auth/password.js';
import { generateRecoveryCodes, recoveryStatus, useRecoveryCode } from '../../../src/auth/recovery.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { hasTotp } from '../../../src/auth/totp.js';
import { listAudit } from '../../../src/store/audit.js';
import { insertCredential, listCredentials, type StoredCredential } from '../../../src/store/credentials.js';
import type { Db } from '../../../src/store/db.js';
import { countUsersWithAWayIn, insertLinkToken, saveTotp } from '../../../src/store/factors.js';
import { findPayload, upsertPayload } from '../../../src/store/oidc-payloads.js';
import { createUser, findUserById, listUsers } from '../../../src/store/users.js';
import { openTestDb, testEngine } from '../helpers.js';

const box = createSecretBox(randomBytes(32));
const events = async (db: Db) => (await listAudit(db, 1000)).map((e) => e.event).reverse();
const passkey = (id: string, userId: string): StoredCredential => ({
  id, userId, publicKey: 'pk', counter: 0, transports: [], kind: 'passkey', name: id, backedUp: false, createdAt: 1, lastUsedAt: null,
});
const password = async (text: string) => ({ kind: 'password' as const, passwordHash: await hashPassword(text) });
const warm = (db: Db) => Promise.all(Array.from({ length: 6 }, () => db.transaction().execute((trx) => countUsersWithAWayIn(trx))));

async function owner(db: Db) {
  return createUser(db, { username: 'olive', name: 'Olive', groups: ['admins'], passwordHash: await hashPassword('olive password') });
}

/** Opens the link and claims it for `browser`, as the first POST from that browser does. */
async function held(db: Db, purpose: EnrolLink['purpose'], token: string, browser = 'browser-a'): Promise<EnrolLink> {
  const link = (await openEnrolLink(db, box, purpose, token))!;
  expect(link).toBeDefined();
  expect(await claimEnrolLink(db, box, link, browser)).toBe('mine');
  return link;
}

describe(`setup (${testEngine})`, () => {
  test('a new setup link revokes every earlier one, and nothing exists until the credential is saved', async () => {
    const db = await openTestDb();
    const first = await issueEnrolLink(db, box, { purpose: 'setup' });
    const early = await held(db, 'setup', first.token);
    await saveEnrolProfile(db, early, { name: 'Ada', username: 'ada', email: 'ada@home.example', method: 'password' });
    expect(await setupInProgress(db)).toMatchObject([{ username: 'ada', claimed: true }]);
    expect(await listUsers(db)).toEqual([]); // no pending owner to sign in or to list

    const second = await issueEnrolLink(db, box, { purpose: 'setup' });
    expect(second.revoked).toBe(1);
    expect(await openEnrolLink(db, box, 'setup', first.token)).toBeUndefined();
    await expect(saveEnrolCredential(db, box, early, await password('ada password'))).rejects.toMatchObject({ status: 404 });
    expect(await listUsers(db)).toEqual([]);

    const link = await held(db, 'setup', second.token);
    await saveEnrolProfile(db, link, { name: '  Ada   Lovelace ', username: 'Ada', email: 'ada@home.example', method: 'passkey' });
    expect(await personOf(db, link)).toMatchObject({ name: 'Ada Lovelace', username: 'ada' });
    const id = link.state.profile!.id;
    await saveEnrolCredential(db, box, link, { kind: 'passkey', credential: passkey('cred', id) });
    expect(await findUserById(db, id)).toMatchObject({ username: 'ada', groups: ['admins'], emailVerified: true, disabled: false });
    expect(await personOf(db, link)).toMatchObject({ id, username: 'ada' }); // now the stored user
    expect(await setupNeeded(db)).toBe(false);

    // The codes were made with the credential, once; reading them again gives the same ones.
    const codes = codesToShow(box, (await openEnrolLink(db, box, 'setup', second.token))!);
    expect(codes).toHaveLength(10);
    expect(codesToShow(box, (await openEnrolLink(db, box, 'setup', second.token))!)).toEqual(codes);
    expect(await finishEnrol(db, (await openEnrolLink(db, box, 'setup', second.token))!)).toBe(id);
    expect(await openEnrolLink(db, box, 'setup', second.token)).toBeUndefined();
    expect(await useRecoveryCode(db, box, id, codes[0]!)).toBe(true);
    expect(await events(db)).toEqual(['setup.link_created', 'setup.link_created', 'passkey.registered', 'setup.credential_saved', 'setup.completed']);
  });

  test('replicas starting together leave one open setup link', async () => {
    const db = await openTestDb();
    await warm(db);
    const issued = await Promise.all(Array.from({ length: 4 }, () => issueEnrolLink(db, box, { purpose: 'setup', actor: 'server' })));
    const open = await Promise.all(issued.map((l) => openEnrolLink(db, box, 'setup', l.token)));
    expect(open.filter(Boolean)).toHaveLength(1);
    expect(await setupInProgress(db)).toHaveLength(1);
  });

  test('ten concurrent finishes across two setup links make exactly one owner', async () => {
    const db = await openTestDb();
    const a = await issueEnrolLink(db, box, { purpose: 'setup' });
    // A second open link, as two servers that printed theirs at the same moment might leave behind.
    const b = randomBytes(24).toString('base64url');
    await insertLinkToken(db, {
      id: 'second', token_hash: box.mac('link', b), purpose: 'setup', user_id: null, state: '{}', expires_at: a.expiresAt, used_at: null, created_at: 1,
    });
    const links = [await held(db, 'setup', a.token, 'laptop'), await held(db, 'setup', b, 'phone')];
    await saveEnrolProfile(db, links[0]!, { name: 'Ada', username: 'ada', method: 'password' });
    await saveEnrolProfile(db, links[1]!, { name: 'Bob', username: 'bob', method: 'password' });
    const credential = await password('a long password');
    await warm(db);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => saveEnrolCredential(db, box, { ...links[i % 2]!, state: { ...links[i % 2]!.state } }, credential)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ expose: true });
    const users = await listUsers(db);
    expect(users).toHaveLength(1);
    expect(users[0]!.groups).toEqual(['admins']);
    expect(await countUsersWithAWayIn(db)).toBe(1);
    expect((await events(db)).filter((e) => e === 'setup.credential_saved')).toHaveLength(1);
  });
});

describe(`links claimed by one browser (${testEngine})`, () => {
  test('the first browser to submit holds the link; another sees it in use and cannot write', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const { token, code } = await inviteUser(db, box, { userId: me.id }, 'family');
    const link = (await openEnrolLink(db, box, 'invite', token))!;
    expect(claimState(box, link, 'phone')).toBe('free');
    await warm(db);
    const claims = await Promise.all(['phone', 'laptop', 'tablet', 'bot'].map(async (b) => claimEnrolLink(db, box, { ...link }, b)));
    expect(claims.filter((c) => c === 'mine')).toHaveLength(1);
    const winner = ['phone', 'laptop', 'tablet', 'bot'][claims.indexOf('mine')]!;
    const again = (await openEnrolLink(db, box, 'invite', token))!;
    expect(claimState(box, again, winner)).toBe('mine');
    expect(claimState(box, again, winner === 'bot' ? 'phone' : 'bot')).toBe('other');
    expect(claimState(box, again, undefined)).toBe('other');

    // The short code opens the same link, whatever its case and dashes.
    expect(await purposeOfCode(db, box, code.toLowerCase().replace('-', ' '))).toMatchObject({ purpose: 'invite' });
    expect((await openEnrolLink(db, box, 'invite', code))?.id).toBe(link.id);
    expect(await openEnrolLink(db, box, 'reset', code)).toBeUndefined();
    expect(await purposeOfCode(db, box, 'AAAA-AAAA')).toBeUndefined();
  });

  test('a TOTP secret offered on a page is bound to its link', () => {
    const link = { id: 'one' } as EnrolLink;
    const sealed = sealTotpOffer(box, link, 'JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(openTotpOffer(box, link, sealed)).toBe('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(openTotpOffer(box, { id: 'two' } as EnrolLink, sealed)).toBeUndefined();
    expect(openTotpOffer(box, link, `${sealed.slice(0, -2)}xx`)).toBeUndefined();
    expect(openTotpOffer(box, link, 42)).toBeUndefined();
  });
});

describe(`invitations (${testEngine})`, () => {
  test('an invitee exists only once their way in is saved, in the invited groups, email not yet trusted', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const { token } = await inviteUser(db, box, { userId: me.id }, 'family');
    expect(await openEnrolLink(db, box, 'reset', token)).toBeUndefined();
    const link = await held(db, 'invite', token);
    await expect(saveEnrolProfile(db, link, { username: 'olive', name: 'X' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('taken') });
    await expect(saveEnrolProfile(db, link, { username: 'kim', name: '', email: 'kim@nowhere' })).rejects.toMatchObject({
      code: 'bad_request', message: expect.stringMatching(/name to show.*email address/),
    });
    await saveEnrolProfile(db, link, { username: 'kim', name: 'Kim', email: 'kim@home.example', method: 'password' });
    expect((await listAdminUsers(db)).map((u) => u.user.username)).toEqual(['olive']);
    expect(await finishEnrol(db, link)).toBeUndefined(); // no way in yet

    await saveEnrolCredential(db, box, link, { ...(await password('kim password')), totp: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DP', step: 5 } });
    const kim = (await findUserById(db, link.state.userId!))!;
    expect(kim).toMatchObject({ username: 'kim', groups: ['family'], disabled: false, emailVerified: false });
    expect(await verifyPassword('kim password', kim.passwordHash)).toBe(true);
    expect(await hasTotp(db, kim.id)).toBe(true);
    expect(await recoveryStatus(db, kim.id)).toEqual({ total: 10, unused: 10 });
    await expect(saveEnrolCredential(db, box, link, await password('another one'))).rejects.toMatchObject({ code: 'conflict' });
    expect(await finishEnrol(db, link)).toBe(kim.id);
    expect(await openEnrolLink(db, box, 'invite', token)).toBeUndefined(); // used up
    expect(await events(db)).toEqual(['user.invited', 'user.invite_credential_saved', 'user.invite_accepted']);
  });

  test('a username or email taken in between: nothing is created and the link still works', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const { token } = await inviteUser(db, box, { userId: me.id }, '');
    const link = await held(db, 'invite', token);
    await saveEnrolProfile(db, link, { username: 'kim', name: 'Kim', email: 'kim@home.example' });
    await createUser(db, { username: 'kim', name: 'Other Kim' }); // `accouch user add kim` meanwhile
    const before = await listUsers(db);
    await expect(saveEnrolCredential(db, box, link, await password('kim password'))).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('"kim" is taken') });
    expect(await listUsers(db)).toEqual(before);
    await createUser(db, { username: 'ann', name: 'Ann', email: 'KIM@home.example' });
    await expect(saveEnrolProfile(db, link, { username: 'kimberly', name: 'Kim', email: 'kim@home.example' })).rejects.toMatchObject({ message: expect.stringContaining('email') });

    const again = (await openEnrolLink(db, box, 'invite', token))!;
    expect(claimState(box, again, 'browser-a')).toBe('mine');
    await saveEnrolProfile(db, again, { username: 'kimberly', name: 'Kim', email: '' });
    await saveEnrolCredential(db, box, again, await password('kim password'));
    expect((await listUsers(db)).map((u) => u.username)).toEqual(['ann', 'kim', 'kimberly', 'olive']);
  });
});

describe(`resets and device links (${testEngine})`, () => {
  test('a reset removes every old factor, session and grant in the transaction that saves the new passkey', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const bob = await createUser(db, { username: 'bob', name: 'Bob', passwordHash: await hashPassword('old bob password') });
    for (const [id, kind] of [['pk', 'passkey'], ['sk', 'security_key']] as const) {
      await insertCredential(db, { ...passkey(id, bob.id), kind });
    }
    await saveTotp(db, bob.id, box.encrypt('JBSWY3DPEHPK3PXPJBSWY3DP'), 1);
    const oldCodes = await generateRecoveryCodes(db, box, bob.id);
    await upsertPayload(db, 'Session', 's1', { accountId: bob.id, loginTs: 10 }, null);
    await upsertPayload(db, 'Grant', 'g1', { accountId: bob.id }, null);

    const first = await createResetLink(db, box, { userId: me.id }, bob.id);
    const { token } = await createResetLink(db, box, { userId: me.id }, bob.id);
    expect(await openEnrolLink(db, box, 'reset', first.token)).toBeUndefined(); // the newer link replaces it
    const link = await held(db, 'reset', token);
    expect(await personOf(db, link)).toMatchObject({ id: bob.id });
    expect(await listCredentials(db, bob.id)).toHaveLength(2); // opening and claiming change nothing

    await saveEnrolCredential(db, box, link, { kind: 'passkey', credential: passkey('new', bob.id) });
    expect((await listCredentials(db, bob.id)).map((c) => c.id)).toEqual(['new']);
    expect((await findUserById(db, bob.id))!.passwordHash).toBeNull();
    expect(await hasTotp(db, bob.id)).toBe(false);
    expect(await useRecoveryCode(db, box, bob.id, oldCodes[0]!)).toBe(false);
    expect(await recoveryStatus(db, bob.id)).toEqual({ total: 10, unused: 10 });
    expect(await findPayload(db, 'Session', 'id', 's1')).toBeUndefined();
    expect(await findPayload(db, 'Grant', 'id', 'g1')).toBeUndefined();
    expect(await finishEnrol(db, link)).toBe(bob.id);
    expect(await events(db)).toEqual(['user.reset_link_created', 'user.reset_link_created', 'passkey.registered', 'user.factors_reset', 'user.reset_completed']);
  });

  test('a device link adds a passkey and keeps everything else; it lasts ten minutes', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const issued = await issueEnrolLink(db, box, { purpose: 'device', userId: me.id, actor: me.id }, 1000);
    expect(issued.expiresAt).toBe(1600);
    expect(await openEnrolLink(db, box, 'device', issued.token, 1600)).toBeUndefined();
    const link = (await openEnrolLink(db, box, 'device', issued.token, 1000))!;
    expect(await claimEnrolLink(db, box, link, 'phone')).toBe('mine');
    await saveEnrolCredential(db, box, link, { kind: 'passkey', credential: passkey('phone', me.id) }, 1000);
    expect(codesToShow(box, link)).toEqual([]);
    expect(await verifyPassword('olive password', (await findUserById(db, me.id))!.passwordHash)).toBe(true);
    expect((await listCredentials(db, me.id)).map((c) => c.id)).toEqual(['phone']);
    expect(await finishEnrol(db, link, 1001)).toBe(me.id);
    expect((await events(db)).slice(-3)).toEqual(['passkey.registered', 'passkey.device_link_used', 'passkey.device_link_finished']);
  });
});
