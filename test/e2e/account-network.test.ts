// /account and /admin apply the policy of the network a request comes from, like the sign-in for apps: a
// password-only session made at home is stepped up (or refused) when the same browser comes from outside,
// on every page and every change. "Home" and "outside" are told apart as behind a real ingress: localhost is a
// trusted proxy, and the X-Forwarded-For it adds says where the browser is (10.255.255.0/24 is home).
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { addUser } from './support/rp.js';
import { startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let origin: string;
const atHome = '10.255.255.7';
const outside = '203.0.113.9';

beforeAll(async () => {
  server = await startServer({
    env: { ACCOUCH_NETWORK_TRUSTED: '10.255.255.0/24', ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1/32,::1/128' },
  });
  origin = new URL(server.issuer).origin;
  addUser(server, 'olive', 'olive owns the house', ['--groups', 'admins']);
  addUser(server, 'paul', 'paul password 1');
  addUser(server, 'tess', 'tess password 1');
});

afterAll(async () => {
  await stopCleanly(server);
});

const url = (path: string) => `${server.issuer}${path}`;
const auditLog = () => server.cli(['audit', '--limit', '1000']).stdout;

/** A browser whose place can change: the ingress in front of us reports it in X-Forwarded-For. */
function browserAt(address: string) {
  const headers = { 'x-forwarded-for': address };
  const agent = new Agent(headers);
  return { agent, moveTo: (where: string) => { headers['x-forwarded-for'] = where; } };
}

/**
 * Opens a page (or follows `first`) and signs in on our pages: the password, then a TOTP code when asked.
 * Returns where it lands: the page itself, or the page that says the sign-in was refused.
 */
async function openSignedIn(agent: Agent, path: string, username: string, password: string, totp?: () => Promise<string>, first?: Response) {
  let { res, url: at } = await agent.follow(url(path), origin, first);
  for (let step = 0; step < 6; step += 1) {
    const html = await res.text();
    if (at.pathname === path.split('?')[0] || at.pathname === '/account/callback') return { res, url: at, html };
    let post: Response;
    if (html.includes('/totp"') && totp) post = await agent.post(new URL(formAction(html, '/totp'), origin), { code: await totp() });
    else if (html.includes('name="password"')) post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    else throw new Error(`unexpected page ${at}: ${html.slice(0, 400)}`);
    ({ res, url: at } = await agent.follow(at, origin, post));
  }
  throw new Error('sign-in did not finish');
}

/** The answer is "sign in first" (at `acr` when given), not the page or the change. */
function expectSentToSignIn(res: Response, acr?: string) {
  expect(res.status).toBe(303);
  const to = new URL(res.headers.get('location')!, origin);
  expect(to.pathname).toBe('/auth');
  expect(to.searchParams.get('client_id')).toBe('accouch');
  if (acr) expect(to.searchParams.get('acr_values')).toBe(acr);
  return to;
}

describe('the account page', () => {
  it('opens with a password at home; from outside the same session must sign in again, and a password alone is refused', async () => {
    const paul = browserAt(atHome);
    const home = await openSignedIn(paul.agent, '/account', 'paul', 'paul password 1');
    expect(home.res.status).toBe(200);
    expect(home.html).toContain('Paul Example');

    paul.moveTo(outside);
    expectSentToSignIn(await paul.agent.get(url('/account')), 'mfa');
    // Every change is refused the same way, and nothing changes.
    for (const [path, form] of [
      ['/account/profile', { name: 'Mallory', email: 'mallory@evil.example' }], ['/account/password', { current: 'paul password 1', password: 'a new password 1', confirm: 'a new password 1' }],
      ['/account/recovery', {}], ['/account/password/remove', {}], ['/account/picture/remove', {}],
    ] as const) {
      expectSentToSignIn(await paul.agent.post(url(path), form), 'mfa');
    }
    // The WebAuthn script's JSON calls get a readable refusal.
    const json = await paul.agent.request(url('/account/webauthn/options'), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', accept: 'application/json' } });
    expect(json.status).toBe(403);
    expect((await json.json()).error).toMatch(/sign in again/);

    // Paul has nothing but a password: the sign-in asked for from outside cannot be met, and says so in the
    // words a wrong password gets too.
    const { res: signInPage } = await paul.agent.follow(url('/account'), origin);
    const refused = await paul.agent.post(new URL(formAction(await signInPage.text(), '/password'), origin), { username: 'paul', password: 'paul password 1' });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('a password alone is not enough here');

    // Back home, the session is as it was and the profile unchanged.
    paul.moveTo(atHome);
    const again = await paul.agent.get(url('/account'));
    expect(again.status).toBe(200);
    const html = await again.text();
    expect(html).toContain('Paul Example');
    expect(html).not.toContain('Mallory');
    expect(auditLog()).not.toMatch(/profile\.updated|password\.changed/);
  });

  it('steps a home password session up with the authenticator app from outside, then lets it in', async () => {
    const tess = browserAt(atHome);
    const { html } = await openSignedIn(tess.agent, '/account/totp', 'tess', 'tess password 1');
    const secret = html.match(/<code id="totp-secret">([^<]+)<\/code>/)![1]!.replace(/\s+/g, '');
    const enrolled = await tess.agent.post(url('/account/totp'), { code: await generate({ secret }) });
    expect(enrolled.headers.get('location')).toBe('/account?done=totp-enrolled');
    // The session is still the password-only one it was at home.
    expect((await tess.agent.get(url('/account'))).status).toBe(200);

    tess.moveTo(outside);
    const first = await tess.agent.get(url('/account'));
    const signIn = expectSentToSignIn(first, 'mfa');
    expect(signIn.searchParams.get('login_hint')).toBe('tess');
    let asked = false;
    const stepped = await openSignedIn(tess.agent, '/account', 'tess', 'tess password 1', async () => {
      asked = true;
      return generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    }, first);
    expect(asked).toBe(true);
    expect(stepped.url.pathname).toBe('/account');
    expect(stepped.res.status).toBe(200);
    expect(stepped.html).toContain('Tess Example');
    expect((await tess.agent.post(url('/account/profile'), { name: 'Tess Abroad', email: 'tess@home.example' })).headers.get('location')).toBe('/account?done=profile');
  });
});

describe('the owner console', () => {
  it('opens with a password at home; from outside it issues no invitation and changes nothing until signed in strongly', async () => {
    const olive = browserAt(atHome);
    const home = await openSignedIn(olive.agent, '/admin', 'olive', 'olive owns the house');
    expect(home.res.status).toBe(200);
    expect(home.html).toContain('Owner console');

    olive.moveTo(outside);
    for (const path of ['/admin', '/admin/apps', '/admin/users', '/admin/sessions', '/admin/keys', '/admin/audit']) {
      expectSentToSignIn(await olive.agent.get(url(path)), 'mfa');
    }
    for (const path of ['/admin/users/invite', '/admin/apps', '/admin/keys/rotate', '/admin/users/x/disable']) {
      expectSentToSignIn(await olive.agent.post(url(path), { groups: 'admins', preset: 'generic', url: 'https://x.example', id: 'x' }), 'mfa');
    }
    expect(auditLog()).not.toMatch(/user\.invited|client\.created|keys\.rotated/);

    olive.moveTo(atHome);
    expect((await olive.agent.get(url('/admin/users'))).status).toBe(200);
  });
});

describe('guessing passwords from outside', () => {
  /** The sign-in page of a fresh interaction for the account pages, and its password form's address. */
  async function signInPage(agent: Agent) {
    const { res, url: at } = await agent.follow(url('/account'), origin);
    const html = await res.text();
    expect(html).toContain('name="password"');
    return { at, action: new URL(formAction(html, '/password'), origin) };
  }
  /** The answer to a password, with the interaction's own id taken out (it differs per sign-in). */
  async function answer(agent: Agent, action: URL, username: string, password: string) {
    const res = await agent.post(action, { username, password });
    const uid = action.pathname.split('/')[2]!;
    return { status: res.status, html: (await res.text()).replaceAll(uid, '<uid>') };
  }

  it('answers a right password the outside policy refuses exactly like a wrong one, and does not count it', async () => {
    addUser(server, 'quinn', 'quinn password 1');
    const stranger = browserAt(outside).agent;
    const { action } = await signInPage(stranger);
    const wrong = await answer(stranger, action, 'quinn', 'not the password');
    const right = await answer(stranger, action, 'quinn', 'quinn password 1');
    expect(right.status).toBe(401);
    expect(right).toEqual(wrong);
    expect(right.html).toContain('a password alone is not enough here');

    // Many right-but-refused answers never bring a lock closer (five wrong ones would).
    for (let i = 0; i < 7; i++) expect((await answer(stranger, action, 'quinn', 'quinn password 1')).status).toBe(401);
    const log = auditLog();
    expect(log).toContain('login.refused');
    // At home the same password signs Quinn in at once.
    const home = await openSignedIn(browserAt(atHome).agent, '/account', 'quinn', 'quinn password 1');
    expect(home.res.status).toBe(200);
  });

  it('slows guesses from outside without locking the member out at home', async () => {
    addUser(server, 'uma', 'uma password 1');
    const stranger = browserAt(outside).agent;
    const { action } = await signInPage(stranger);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await answer(stranger, action, 'uma', `guess ${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses).toContain(429);

    const home = await openSignedIn(browserAt(atHome).agent, '/account', 'uma', 'uma password 1');
    expect(home.res.status).toBe(200);
    expect(home.html).toContain('Uma Example');
  });
});
