// The sign-in state machine: nextStep for each factor alone and combined, home/outside × any/mfa/phr/deny, an
// app's own policy and groups, a user disabled mid-sign-in; and runFactor's throttle → verify → audit → nextStep
// for every factor (the unit counterparts of the sign-in-factors e2e cases).
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { describe, expect, test } from 'vitest';
import { hashPassword } from '../../../../src/auth/password.js';
import type { Strength, UsedFactor } from '../../../../src/auth/policy.js';
import { requiredStrength } from '../../../../src/auth/policy.js';
import { checkRecoveryCode, generateRecoveryCodes } from '../../../../src/auth/recovery.js';
import { createSecretBox } from '../../../../src/auth/secret-key.js';
import { passwordFactor, runFactor, type FactorCheck } from '../../../../src/auth/sign-in/flow.js';
import { nextStep } from '../../../../src/auth/sign-in/next-step.js';
import type { SignInRequest, Step } from '../../../../src/auth/sign-in/types.js';
import { throttleKeys } from '../../../../src/auth/throttle.js';
import { checkTotp, enrolTotp, newTotpSecret } from '../../../../src/auth/totp.js';
import { listAudit } from '../../../../src/store/audit.js';
import { insertCredential } from '../../../../src/store/credentials.js';
import type { Db } from '../../../../src/store/db.js';
import { createUser, updateProfile } from '../../../../src/store/users.js';
import { openTestDb } from '../../helpers.js';

const box = createSecretBox(randomBytes(32));
const password = 'the right password';

/** A household: password only, password + TOTP, password + security key, passkey only, password + recovery codes. */
async function household(db: Db) {
  const hash = await hashPassword(password);
  const pat = await createUser(db, { username: 'pat', name: 'Pat', passwordHash: hash, groups: ['family'] });
  const tom = await createUser(db, { username: 'tom', name: 'Tom', passwordHash: hash, groups: ['family'] });
  const kay = await createUser(db, { username: 'kay', name: 'Kay', passwordHash: hash, groups: ['admins'] });
  const pia = await createUser(db, { username: 'pia', name: 'Pia', passwordHash: null, groups: ['family'] });
  const rex = await createUser(db, { username: 'rex', name: 'Rex', passwordHash: hash, groups: [] });
  const now = Math.floor(Date.now() / 1000);
  const secret = await newTotpSecret();
  expect(await enrolTotp(db, box, tom.id, secret, await generate({ secret, epoch: now - 90 }), now - 90)).toBe(true);
  const key = (id: string, userId: string, kind: 'passkey' | 'security_key') => insertCredential(db, {
    id, userId, publicKey: 'pk', counter: 0, transports: [], kind, name: id, backedUp: false, createdAt: now,
  });
  await key('kay-key', kay.id, 'security_key');
  await key('pia-passkey', pia.id, 'passkey');
  const codes = await generateRecoveryCodes(db, box, rex.id);
  return { pat, tom, kay, pia, rex, secret, codes };
}

const request = (network: 'home' | 'outside', globalPolicy: Record<'home' | 'outside', Strength>, app: SignInRequest['app'] = {}, acrValues?: string): SignInRequest => ({
  id: 'uid-1', clientId: 'photos', clientName: 'Photos', network, ip: network === 'home' ? '10.0.0.5' : '203.0.113.9',
  required: requiredStrength({ network, globalPolicy, clientPolicy: app.policy, acrValues }), app, loginHint: undefined,
});

const pwd: UsedFactor = { factor: 'password' };
const totp: UsedFactor = { factor: 'totp' };
const recovery: UsedFactor = { factor: 'recovery_code' };
const keyNoUv: UsedFactor = { factor: 'security_key', hardware: true };
const passkeyUv: UsedFactor = { factor: 'passkey', userVerified: true };
const fed: UsedFactor = { factor: 'federated', upstream: 'github' };

/** The step, reduced to what the table states. */
const shape = (step: Step) => {
  switch (step.kind) {
    case 'more': return `more:${step.options.join('|')}`;
    case 'login': return `login:${step.acr}`;
    case 'deny': return `deny:${step.reason}`;
    default: return step.kind;
  }
};

type Who = 'pat' | 'tom' | 'kay' | 'pia' | 'rex';
const anyMfa = { home: 'any', outside: 'mfa' } as const;
const table: Array<[string, Who, UsedFactor[], 'home' | 'outside', Record<'home' | 'outside', Strength>, SignInRequest['app'], string]> = [
  // each factor alone
  ['password only, at home', 'pat', [pwd], 'home', anyMfa, {}, 'login:1fa'],
  ['password only, outside (mfa): impossible', 'pat', [pwd], 'outside', anyMfa, {}, 'deny:too-weak'],
  ['password only, outside allows any', 'pat', [pwd], 'outside', { home: 'any', outside: 'any' }, {}, 'login:1fa'],
  ['password of a TOTP user at home: the person asked for a second factor', 'tom', [pwd], 'home', anyMfa, {}, 'more:totp'],
  ['password of a security-key user: the key is offered', 'kay', [pwd], 'home', anyMfa, {}, 'more:webauthn'],
  ['password of a recovery-code-only user at home: no second factor set up, done', 'rex', [pwd], 'home', anyMfa, {}, 'login:1fa'],
  ['password of a recovery-code-only user outside: a recovery code completes mfa', 'rex', [pwd], 'outside', anyMfa, {}, 'more:recovery_code'],
  ['passkey with UV alone, outside phr', 'pia', [passkeyUv], 'outside', { home: 'any', outside: 'phr' }, {}, 'login:phr'],
  ['upstream sign-in alone at home', 'pat', [fed], 'home', anyMfa, {}, 'login:1fa'],
  ['upstream sign-in alone outside (mfa), no second factor: impossible', 'pat', [fed], 'outside', anyMfa, {}, 'deny:too-weak'],
  ['upstream sign-in of a TOTP user outside: TOTP next', 'tom', [fed], 'outside', anyMfa, {}, 'more:totp'],
  // combined
  ['password + TOTP outside (mfa)', 'tom', [pwd, totp], 'outside', anyMfa, {}, 'login:mfa'],
  ['password + TOTP outside needing phr: impossible (TOTP is not phishing-resistant)', 'tom', [pwd, totp], 'outside', { home: 'any', outside: 'phr' }, {}, 'deny:too-weak'],
  ['password + security key outside phr', 'kay', [pwd, keyNoUv], 'outside', { home: 'any', outside: 'phr' }, {}, 'login:phr'],
  ['password + recovery code outside', 'rex', [pwd, recovery], 'outside', anyMfa, {}, 'login:mfa'],
  ['upstream + TOTP outside', 'tom', [fed, totp], 'outside', anyMfa, {}, 'login:mfa'],
  // deny and app policy
  ['global deny outside, whatever the factors', 'pia', [passkeyUv], 'outside', { home: 'any', outside: 'deny' }, {}, 'deny:policy'],
  ['global deny at home', 'pat', [pwd], 'home', { home: 'deny', outside: 'deny' }, {}, 'deny:policy'],
  ['app deny outside', 'kay', [pwd, keyNoUv], 'outside', anyMfa, { policy: { outside: 'deny' } }, 'deny:policy'],
  ['app needs mfa at home: password-only user cannot', 'pat', [pwd], 'home', anyMfa, { policy: { home: 'mfa' } }, 'deny:too-weak'],
  ['app needs phr at home: the security-key user is asked for the key', 'kay', [pwd], 'home', anyMfa, { policy: { home: 'phr' } }, 'more:webauthn'],
  // groups
  ['not in the app\'s groups: refused once fully signed in', 'pat', [pwd], 'home', anyMfa, { allowedGroups: ['admins'] }, 'deny:group'],
  ['in the app\'s groups', 'kay', [pwd, keyNoUv], 'home', anyMfa, { allowedGroups: ['admins'] }, 'login:phr'],
  ['groups are not checked before the second factor (nothing to learn from a password)', 'tom', [pwd], 'home', anyMfa, { allowedGroups: ['admins'] }, 'more:totp'],
];

describe('nextStep', () => {
  test.each(table)('%s', async (_name, who, factors, network, globalPolicy, app, expected) => {
    const db = await openTestDb();
    const people = await household(db);
    expect(shape(await nextStep(db, request(network, globalPolicy, app), { userId: people[who].id, factors }))).toBe(expected);
  });

  test('nothing proven yet: the page; a closed network: deny before anything is asked', async () => {
    const db = await openTestDb();
    expect(await nextStep(db, request('home', anyMfa), undefined)).toEqual({ kind: 'page' });
    expect(shape(await nextStep(db, request('outside', { home: 'any', outside: 'deny' }), undefined))).toBe('deny:policy');
  });

  test('a user disabled mid-sign-in is refused at the next step', async () => {
    const db = await openTestDb();
    const { tom } = await household(db);
    expect(shape(await nextStep(db, request('home', anyMfa), { userId: tom.id, factors: [pwd] }))).toBe('more:totp');
    await updateProfile(db, tom.id, { disabled: true });
    expect(shape(await nextStep(db, request('home', anyMfa), { userId: tom.id, factors: [pwd, totp] }))).toBe('deny:disabled');
  });
});

describe('runFactor: throttle → verify → audit → nextStep, for every factor', () => {
  const events = async (db: Db) => (await listAudit(db)).map((e) => `${e.event}:${String(e.detail.factor ?? '')}`).reverse();

  test('password then TOTP at home: more, then login; audited once as a success', async () => {
    const db = await openTestDb();
    const { tom, secret } = await household(db);
    const req = request('home', anyMfa);
    const first = await runFactor(db, req, undefined, passwordFactor(db, req, { username: 'tom', password }));
    expect(first.kind === 'next' && shape(first.step)).toBe('more:totp');
    const pending = first.kind === 'next' && first.step.kind === 'more' ? first.step.pending : undefined;
    const code = await generate({ secret, epoch: Math.floor(Date.now() / 1000) });
    const totpCheck = (value: string): FactorCheck => ({
      factor: 'totp', keys: throttleKeys('tom', req.ip, req.network),
      verify: async () => {
        const verdict = await checkTotp(db, box, tom.id, value);
        return verdict === 'ok' ? { ok: true, userId: tom.id, used: totp } : { ok: false, reason: verdict, userId: tom.id };
      },
    });
    const second = await runFactor(db, req, pending, totpCheck(code));
    expect(second.kind === 'next' && shape(second.step)).toBe('login:mfa');
    expect(second.kind === 'next' && second.ts).toBeGreaterThan(0);
    // The same code again is "already used", not "wrong".
    expect(await runFactor(db, req, pending, totpCheck(code))).toEqual({ kind: 'failed', reason: 'reused' });
    expect((await events(db)).filter((e) => e.startsWith('login.'))).toEqual(['login.success:', 'login.failure:totp']);
  });

  test('a spent recovery code is "already used"; an unknown one is wrong', async () => {
    const db = await openTestDb();
    const { rex, codes } = await household(db);
    expect(await checkRecoveryCode(db, box, rex.id, codes[0]!)).toBe('ok');
    expect(await checkRecoveryCode(db, box, rex.id, codes[0]!)).toBe('reused');
    expect(await checkRecoveryCode(db, box, rex.id, 'aaaaa-aaaaa')).toBe('invalid');
  });

  test('a right password refused by policy answers like a wrong one would not: it is not counted, and audited as refused', async () => {
    const db = await openTestDb();
    await household(db);
    const req = request('outside', anyMfa);
    for (let i = 0; i < 8; i++) {
      const outcome = await runFactor(db, req, undefined, passwordFactor(db, req, { username: 'pat', password }));
      expect(outcome.kind === 'next' && shape(outcome.step)).toBe('deny:too-weak');
    }
    expect((await events(db)).every((e) => e === 'login.refused:password')).toBe(true);
  });

  test.each([
    ['password', (db: Db, req: SignInRequest) => passwordFactor(db, req, { username: 'pat', password: 'wrong!' })],
    ['totp', (_db: Db, req: SignInRequest): FactorCheck => ({ factor: 'totp', keys: throttleKeys('pat', req.ip, req.network), verify: async () => ({ ok: false, reason: 'invalid' }) })],
    ['recovery code', (_db: Db, req: SignInRequest): FactorCheck => ({ factor: 'recovery_code', keys: throttleKeys('pat', req.ip, req.network), verify: async () => ({ ok: false, reason: 'invalid' }) })],
    ['webauthn (address only)', (_db: Db, req: SignInRequest): FactorCheck => ({ factor: 'webauthn', keys: throttleKeys('', req.ip).slice(1), verify: async () => ({ ok: false, reason: 'invalid' }) })],
    ['upstream (address only)', (_db: Db, req: SignInRequest): FactorCheck => ({ factor: 'federated', keys: throttleKeys('', req.ip).slice(1), verify: async () => ({ ok: false, reason: 'invalid' }) })],
  ] as const)('%s failures are audited and then throttled', async (_name, make) => {
    const db = await openTestDb();
    await household(db);
    const req = request('home', anyMfa);
    const kinds: string[] = [];
    for (let i = 0; i < 25; i++) kinds.push((await runFactor(db, req, undefined, make(db, req))).kind);
    expect(kinds.slice(0, 5)).toEqual(Array(5).fill('failed'));
    expect(kinds).toContain('throttled');
    expect((await listAudit(db)).filter((e) => e.event === 'login.failure').length).toBe(kinds.filter((k) => k === 'failed').length);
  });
});
