// "Continue with GitHub" against a stand-in for GitHub's documented OAuth endpoints and REST API, selected through
// the GitHub Enterprise base URL: linking, signing in, organisation and team membership mapped to groups (and
// taken away again), an allow rule by organisation, an unverified primary email left out, strangers refused.
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { startFakeGithub, type FakeGithub, type GithubUser } from './support/fake-github.js';
import { tinyPng } from './support/png.js';
import { startWithUpstreams } from './support/federation.js';
import type { RpApp } from './support/rp-app.js';
import { addUser } from './support/rp.js';
import { freePort, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let github: FakeGithub;
let app: RpApp;
let browser: Browser;

const octocat: GithubUser = {
  id: 583231, login: 'octocat', name: 'The Octocat',
  emails: [{ email: 'octocat@github.example', primary: true, verified: true }],
  orgs: ['family'], teams: ['family/admins'],
};
const hubot: GithubUser = {
  id: 4242, login: 'hubot', name: 'Hubot',
  emails: [{ email: 'hubot@unverified.example', primary: true, verified: false }, { email: 'hubot@verified.example', primary: false, verified: true }],
  orgs: ['family'], avatar: tinyPng([10, 120, 10]),
};
const stranger: GithubUser = { id: 666, login: 'stranger', name: 'Someone', emails: [{ email: 'someone@elsewhere.example', primary: true, verified: true }] };

beforeAll(async () => {
  const port = await freePort();
  github = await startFakeGithub({
    clientId: 'Iv1.accouchhome', clientSecret: 'github client secret value', callbackUrl: `http://localhost:${port}/federation/github/callback`,
    users: [octocat, hubot, stranger],
  });
  ({ server, app } = await startWithUpstreams(port, [{
    id: 'github', type: 'github', clientId: 'Iv1.accouchhome', clientSecret: 'github client secret value',
    baseUrl: github.baseUrl, // GitHub Enterprise Server: the API is then at <baseUrl>/api/v3
    groups: { family: 'family', 'family/admins': 'admins' },
    allow: { githubOrgs: ['family'] },
  }]));
  // The household's owner, in admins: the mapping may take admins from Ada, who is not its last member.
  addUser(server, 'olive', 'olive owner password', ['--groups', 'admins']);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await github?.close();
  await stopCleanly(server);
  expect(server.output()).not.toContain('github client secret value');
  expect(server.output()).not.toMatch(/gho_[0-9a-f]/); // no GitHub token in the log
});

const auditLog = () => server.cli(['audit', '--limit', '500']).stdout;

/** At GitHub's "Authorize" page: picks who is signed in to GitHub, then authorizes. */
async function authorizeAtGithub(page: Page, login: string) {
  await page.waitForSelector('h1:has-text("Authorize Accouch")');
  expect(new URL(page.url()).origin).toBe(github.baseUrl);
  await page.selectOption('#gh-login', login);
  await page.click('#gh-authorize');
}

async function continueWithGithub(login: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.url}/login`);
  await page.click('button:has-text("Continue with GitHub")');
  await authorizeAtGithub(page, login);
  return { context, page };
}

describe('GitHub as an upstream', () => {
  it('links a GitHub account from the account page, asking GitHub for the scopes it documents', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.issuer}/account`);
    await page.fill('#username', 'ada');
    await page.fill('#password', 'ada local password');
    await page.click('button:has-text("Sign in")');
    await page.locator('#linked-accounts li', { hasText: 'GitHub' }).locator('button:has-text("Link")').click();
    await authorizeAtGithub(page, 'octocat');
    await page.waitForSelector('text=Account linked. You can use it to sign in.');
    expect(await page.locator('#linked-accounts li', { hasText: 'GitHub' }).textContent()).toContain('octocat · linked');
    expect(github.lastScopes()).toEqual(['read:user', 'user:email', 'read:org']);
    await context.close();
  });

  it('signs the linked user in, with their GitHub organisation and team as groups', async () => {
    const { context, page } = await continueWithGithub('octocat');
    await page.waitForSelector('h1:has-text("Hello Ada Example")');
    expect(await page.textContent('#groups')).toBe('admins,family');
    expect(await page.textContent('#amr')).toBe('fed');
    expect(auditLog()).toMatch(/user\.groups_changed .*added=admins\+family .*upstream=github/);
    await context.close();
  });

  it('takes a mapped group away when the membership ends at GitHub', async () => {
    octocat.teams = [];
    try {
      const { context, page } = await continueWithGithub('octocat');
      await page.waitForSelector('h1:has-text("Hello Ada Example")');
      expect(await page.textContent('#groups')).toBe('family');
      await context.close();
    } finally {
      octocat.teams = ['family/admins'];
    }
  });

  it('creates a household user for a member of an allowed organisation, without the unverified primary email', async () => {
    const { context, page } = await continueWithGithub('hubot');
    await page.waitForSelector('h1:has-text("Hello Hubot")');
    // The primary address is unverified: no email at all (a verified secondary one is not the person's choice).
    expect(await page.textContent('#email')).toBe('');
    expect(await page.textContent('#groups')).toBe('family');
    const picture = (await page.textContent('#picture'))!;
    const image = await fetch(picture);
    expect(Buffer.from(await image.arrayBuffer()).equals(hubot.avatar!)).toBe(true);
    expect(server.cli(['user', 'list']).stdout).toMatch(/hubot\s+Hubot/);
    await context.close();
  });

  it('refuses a GitHub account that is not linked and not allowed', async () => {
    const { context, page } = await continueWithGithub('stranger');
    await page.waitForSelector('h1:has-text("This GitHub account is not linked")');
    expect(await page.textContent('main')).toContain('The GitHub account stranger is not linked to anyone in this household.');
    expect(server.cli(['user', 'list']).stdout).not.toContain('stranger');
    await context.close();
  });

  it('says what GitHub answered when it refuses the code (HTTP 200 with an error, as GitHub does)', async () => {
    github.expireCodes(true);
    try {
      const { context, page } = await continueWithGithub('octocat');
      await page.waitForSelector('h1:has-text("Could not sign in with GitHub")');
      expect(await page.textContent('main')).toContain('GitHub refused the sign-in (bad_verification_code: The code passed is incorrect or expired.)');
      await context.close();
    } finally {
      github.expireCodes(false);
    }
  });

  it('says so when GitHub is cancelled, and the state cannot be used twice', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.click('button:has-text("Continue with GitHub")');
    await page.waitForSelector('#gh-cancel');
    await page.click('#gh-cancel');
    await page.waitForSelector('h1:has-text("Could not sign in with GitHub")');
    expect(await page.textContent('main')).toContain('GitHub did not let you in (The user has denied your application access.)');

    // A callback replayed (same state) finds nothing to finish.
    const replayed = await fetch(`${server.issuer}/federation/github/callback?code=x&state=reused`, { redirect: 'manual' });
    expect(replayed.status).toBe(400);
    expect(await replayed.text()).toContain('started in another browser');
    await context.close();
  });
});

describe('the owner console', () => {
  let work: FakeGithub;
  afterAll(async () => { await work?.close(); });

  it('shows what to paste into GitHub\'s form, takes the client id and secret, and the sign-in page offers it', async () => {
    const dev: GithubUser = { id: 9001, login: 'dev', name: 'Dev Eloper', emails: [{ email: 'dev@acme.example', primary: true, verified: true }], orgs: ['acme'] };
    work = await startFakeGithub({ clientId: 'Iv1.work', clientSecret: 'work github secret value', callbackUrl: `${server.issuer}/federation/work/callback`, users: [dev] });

    const owner = await browser.newContext();
    const page = await owner.newPage();
    await page.goto(`${server.issuer}/admin/upstreams`);
    await page.fill('#username', 'olive');
    await page.fill('#password', 'olive owner password');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('h1:has-text("Sign-in services")');
    const declared = page.locator('ul[aria-label="Sign-in services"] li', { hasText: 'GitHub' });
    expect(await declared.textContent()).toContain('declared in the configuration file');
    expect(await declared.locator('button:has-text("Remove")').count()).toBe(0);

    await page.click('a[aria-label="Add GitHub"]');
    await page.fill('#upstream-id-choice', 'work');
    await page.click('button:has-text("Use this identifier")');
    expect(await page.textContent('#callback-url')).toBe(`${server.issuer}/federation/work/callback`);
    expect(await page.textContent('#homepage-url')).toBe(server.issuer);
    expect(await page.getAttribute('a:has-text("Register a new OAuth app")', 'href')).toBe('https://github.com/settings/applications/new');

    await page.fill('#upstream-name', 'Work GitHub');
    await page.fill('#upstream-base-url', work.baseUrl);
    await page.fill('#upstream-client-id', 'Iv1.work');
    await page.fill('#upstream-client-secret', 'work github secret value');
    await page.fill('#upstream-orgs', 'acme');
    await page.click('button:has-text("Add GitHub")');
    await page.waitForSelector('text=Sign-in service added.');
    expect(await page.textContent('ul[aria-label="Sign-in services"]')).toContain('Work GitHub');
    // Stored sealed, like TOTP secrets.
    const db = new SQLite(join(server.dataDir, 'accouch.sqlite'), { readonly: true });
    const stored = db.prepare("SELECT config FROM upstreams WHERE id = 'work'").get() as { config: string };
    db.close();
    expect(stored.config).not.toContain('work github secret value');

    // A member of the allowed organisation signs in to the app through it.
    const visitor = await browser.newContext();
    const signIn = await visitor.newPage();
    await signIn.goto(`${app.url}/login`);
    await signIn.click('button:has-text("Continue with Work GitHub")');
    await signIn.waitForSelector('#gh-authorize');
    expect(new URL(signIn.url()).origin).toBe(work.baseUrl);
    await signIn.click('#gh-authorize');
    await signIn.waitForSelector('h1:has-text("Hello Dev Eloper")');
    await visitor.close();

    // Removing it would lock dev out: refused, with their name.
    await page.click('button[aria-label="Remove Work GitHub"]');
    await page.waitForSelector('[role=alert]');
    expect(await page.textContent('[role=alert]')).toContain('dev can only sign in with this service');
    expect(auditLog()).toMatch(/upstream\.added .*upstream=work type=github/);
    await owner.close();
  });

  it('names every bad field of a new sign-in service', async () => {
    const owner = await browser.newContext();
    const page = await owner.newPage();
    await page.goto(`${server.issuer}/admin/upstreams/new?type=oidc&id=broken`);
    await page.fill('#username', 'olive');
    await page.fill('#password', 'olive owner password');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('h1:has-text("Set up Another OpenID Connect provider")');
    const answer = await page.request.post(`${server.issuer}/admin/upstreams`, {
      headers: { origin: server.issuer }, form: { type: 'oidc', id: 'broken', issuer: 'http://auth.example.org', clientId: '', clientSecret: 'x' },
    });
    expect(answer.status()).toBe(400);
    const text = await answer.text();
    expect(text).toContain('issuer: must be an https URL');
    expect(text).toContain('clientId:');
    await owner.close();
  });
});
