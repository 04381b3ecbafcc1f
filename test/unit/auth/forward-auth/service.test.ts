import { describe, expect, test } from 'vitest';
import { createForwardAuthDirectory, declareForwardAuthApp, reconcileConfigForwardAuthApps, removeForwardAuthApp } from '../../../../src/auth/forward-auth/apps.js';
import { forwardAuthAccess } from '../../../../src/auth/forward-auth/access.js';
import { callbackPath, createForwardAuth } from '../../../../src/auth/forward-auth/check.js';
import { forwardAuthAppSchema } from '../../../../src/config.js';
import { AppError } from '../../../../src/errors.js';
import { listAudit } from '../../../../src/store/audit.js';
import { deletePayload, upsertPayload } from '../../../../src/store/oidc-payloads.js';
import { createUser } from '../../../../src/store/users.js';
import { openTestDb } from '../../helpers.js';

const app = (id: string, hosts: string[], extra: Record<string, unknown> = {}) => ({ id, hosts, ...extra });
const globalPolicy = { home: 'any', outside: 'mfa' } as const;

async function rejects(promise: Promise<unknown>, code: string) {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
}

describe('declaring forward-auth apps', () => {
  test('one service for every source: an app keeps its source, a host belongs to one app, the audit log says who', async () => {
    const db = await openTestDb();
    await declareForwardAuthApp(db, { source: 'cli', app: app('jellyfin', ['jellyfin.home.example']) });
    await declareForwardAuthApp(db, { source: 'cli', app: app('jellyfin', ['jellyfin.home.example', 'tv.home.example'], { allowedGroups: ['family'] }) });
    await rejects(declareForwardAuthApp(db, { source: 'config', app: app('jellyfin', ['x.home.example']) }), 'conflict');
    await rejects(declareForwardAuthApp(db, { source: 'cluster', app: app('tv', ['TV.home.example']) }), 'conflict');
    await rejects(declareForwardAuthApp(db, { source: 'cli', app: app('bad id!', ['ok.example']) }), 'bad_request');
    await rejects(declareForwardAuthApp(db, { source: 'cli', app: app('nohost', ['https://a.example/path']) }), 'bad_request');
    await rejects(removeForwardAuthApp(db, { source: 'console', id: 'jellyfin' }), 'conflict');

    const directory = createForwardAuthDirectory(db);
    expect((await directory.appForHost('TV.home.example'))?.allowedGroups).toEqual(['family']);
    expect(await removeForwardAuthApp(db, { source: 'cli', id: 'jellyfin' })).toBe(true);
    expect(await removeForwardAuthApp(db, { source: 'cli', id: 'jellyfin' })).toBe(false);
    expect((await listAudit(db)).map((e) => e.event)).toEqual(['forward_auth_app.removed', 'forward_auth_app.updated', 'forward_auth_app.created']);
  });

  test('the configuration file\'s apps are reconciled: added, changed, and removed when they disappear', async () => {
    const db = await openTestDb();
    const parse = (value: unknown) => forwardAuthAppSchema.parse(value);
    await declareForwardAuthApp(db, { source: 'cli', app: app('mine', ['mine.example']) });
    await reconcileConfigForwardAuthApps(db, [parse(app('a', ['a.example'])), parse(app('b', ['b.example']))]);
    expect(await reconcileConfigForwardAuthApps(db, [parse(app('a', ['a2.example']))])).toEqual(['b']);
    let clock = 0;
    const directory = createForwardAuthDirectory(db, { now: () => clock });
    expect(await directory.appForHost('a2.example')).toMatchObject({ id: 'a' });
    expect(await directory.appForHost('a.example')).toBeUndefined();
    expect(await directory.appForHost('mine.example')).toMatchObject({ id: 'mine' });
    // Read from memory until it is older than its maximum age; then apps added meanwhile appear.
    await declareForwardAuthApp(db, { source: 'cli', app: app('late', ['late.example']) });
    expect(await directory.appForHost('late.example')).toBeUndefined();
    clock += 2001;
    expect(await directory.appForHost('late.example')).toMatchObject({ id: 'late' });
  });
});

describe('the decision forward-auth asks for', () => {
  const session = (acr: string, groups: string[] = ['family']) => ({ user: { id: 'u', groups }, acr, authTime: 1 });
  test.each([
    ['home, signed out', undefined, 'home', {}, { kind: 'sign-in', acr: '1fa' }],
    ['outside, signed out', undefined, 'outside', {}, { kind: 'sign-in', acr: 'mfa' }],
    ['outside, password session', session('1fa'), 'outside', {}, { kind: 'step-up', acr: 'mfa' }],
    ['outside, mfa session', session('mfa'), 'outside', {}, { kind: 'allow' }],
    ['home-only app from outside', session('phr'), 'outside', { policy: { outside: 'deny' } }, { kind: 'deny' }],
    ['home-only app from outside, signed out', undefined, 'outside', { policy: { outside: 'deny' } }, { kind: 'deny' }],
    ['not in the app\'s groups', session('phr', ['guests']), 'home', { allowedGroups: ['family'] }, { kind: 'forbidden' }],
    ['passkey app at home with a password', session('1fa'), 'home', { policy: { home: 'phr' } }, { kind: 'step-up', acr: 'phr' }],
  ] as const)('%s', (_name, found, network, appRules, expected) => {
    expect(forwardAuthAccess({ session: found, network, app: { allowedGroups: [], ...appRules }, globalPolicy })).toEqual(expected);
  });
});

describe('the check and the hand-over', () => {
  async function setup(issuer: string) {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'paul', name: 'Paul Ö 😀', email: 'paul@home.example', emailVerified: true, groups: ['family'] });
    await declareForwardAuthApp(db, { source: 'config', app: app('notes', ['notes.home.example', 'notes.other.net'], { allowedGroups: ['family'], headers: { user: 'X-User' } }) });
    let clock = 1_800_000_000_000;
    const fa = createForwardAuth({ db, directory: createForwardAuthDirectory(db), issuer, cookieKeys: ['k'.repeat(32)], globalPolicy, now: () => clock });
    const exp = clock / 1000 + 3600;
    await upsertPayload(db, 'Session', 'sid', { uid: 'suid', accountId: user.id, acr: '1fa', loginTs: clock / 1000, exp }, exp);
    return { db, fa, user, advance: (ms: number) => { clock += ms; } };
  }
  const request = (url: string, cookie?: string, network: 'home' | 'outside' = 'home') => ({
    target: { url: new URL(url), method: 'GET' }, network, cookieHeader: cookie, authorization: undefined,
  });

  test('a host under the issuer\'s domain gets the shared cookie straight away; it passes with the identity headers', async () => {
    const { fa } = await setup('https://id.home.example');
    const session = (await fa.browserSession('sid'))!;
    const handoff = await fa.handOff(session, new URL('https://notes.home.example/page'));
    expect(handoff.location).toBe('https://notes.home.example/page');
    expect(handoff.setCookie).toMatch(/; Domain=home\.example; Secure$/);
    const cookie = handoff.setCookie!.split(';')[0]!;
    const passed = await fa.check(request('https://notes.home.example/other', cookie));
    expect(passed).toMatchObject({ kind: 'allow', headers: { 'X-User': 'paul', 'Remote-Groups': 'family', 'Remote-Email': 'paul@home.example' } });
    // Header values go out as UTF-8 bytes, as proxies pass them on.
    expect(Buffer.from((passed as { headers: Record<string, string> }).headers['Remote-Name']!, 'latin1').toString('utf8')).toBe('Paul Ö 😀');
    // From outside, the same password session needs a stronger sign-in.
    expect(await fa.check(request('https://notes.home.example/', cookie, 'outside'))).toMatchObject({ kind: 'step-up', acr: 'mfa' });
  });

  test('another host gets a single-use code that its host trades for a host-only cookie once', async () => {
    const { fa } = await setup('https://id.home.example');
    const handoff = await fa.handOff((await fa.browserSession('sid'))!, new URL('https://notes.other.net/a?b=1'));
    expect(handoff.setCookie).toBeUndefined();
    const back = new URL(handoff.location);
    expect(back.origin + back.pathname).toBe(`https://notes.other.net${callbackPath}`);
    // Brought to another declared host, the code is worthless (and is not used up by that).
    expect(await fa.check(request(back.href.replace('notes.other.net', 'notes.home.example')))).toEqual({ kind: 'bad-code' });
    const traded = await fa.check(request(back.href));
    expect(traded).toMatchObject({ kind: 'cookie', location: 'https://notes.other.net/a?b=1' });
    const setCookie = (traded as { setCookie: string }).setCookie;
    expect(setCookie).not.toContain('Domain=');
    expect(await fa.check(request(back.href))).toEqual({ kind: 'bad-code' });
    expect(await fa.check(request('https://notes.other.net/', setCookie.split(';')[0]))).toMatchObject({ kind: 'allow' });
  });

  test('signing out at Accouch ends access once the short cache ages out; the check itself writes nothing', async () => {
    const { db, fa, advance } = await setup('http://localhost:8080');
    const handoff = await fa.handOff((await fa.browserSession('sid'))!, new URL('https://notes.home.example/'));
    const traded = await fa.check(request(handoff.location));
    const cookie = (traded as { setCookie: string }).setCookie.split(';')[0];
    expect(await fa.check(request('https://notes.home.example/', cookie))).toMatchObject({ kind: 'allow' });
    await deletePayload(db, 'Session', 'sid');
    advance(2001);
    expect(await fa.check(request('https://notes.home.example/', cookie))).toMatchObject({ kind: 'sign-in' });
  });

  test('an undeclared host is no app; a session of a user outside the groups is forbidden', async () => {
    const { db, fa } = await setup('https://id.home.example');
    expect(await fa.check(request('https://unknown.home.example/'))).toEqual({ kind: 'undeclared' });
    const guest = await createUser(db, { username: 'gus', name: 'Gus', groups: ['guests'] });
    await upsertPayload(db, 'Session', 'gsid', { uid: 'guid', accountId: guest.id, acr: 'phr', loginTs: 1, exp: 2_000_000_000 }, null);
    expect(fa.decide((await fa.check(request('https://notes.home.example/')) as { app: never }).app, await fa.browserSession('gsid'), 'home')).toEqual({ kind: 'forbidden' });
  });
});

