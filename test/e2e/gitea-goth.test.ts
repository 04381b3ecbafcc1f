// The Gitea preset against the code Gitea's "OpenID Connect" authentication source runs: github.com/markbates/goth's
// openidConnect provider (test/go/gitea-goth, built by test/go-peers.ts), given exactly the flags of the
// `gitea admin auth add-oauth` command the preset prints (no PKCE, as released Gitea; the client secret at the token
// endpoint). Chromium signs in; the harness reads the username from nickname (app.ini USERNAME = nickname) and the
// groups from the claim --group-claim-name names, and makes members of --admin-group site administrators.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePeer } from '../go-peers.js';
import { launchChromium } from './support/chromium.js';
import { addUser } from './support/rp.js';
import { freePort, startServer, stopCleanly, type RunningServer } from './support/server.js';

let server: RunningServer;
let gitea: ChildProcess;
let giteaUrl: string;
let browser: Browser;
let stderr = '';
const signIns: Array<Record<string, unknown>> = [];
let printed: string;

/** The flags of the printed `gitea admin auth add-oauth` command, as the shell would pass them. */
function addOauthFlags(text: string): string[] {
  const command = /```sh\n([\s\S]*?)\n```/.exec(text)![1]!.replace(/\\\n/g, ' ');
  expect(command).toMatch(/^gitea admin auth add-oauth /);
  return [...command.matchAll(/--[\w-]+(?:=(?:'[^']*'|\S+))?/g)].map(([flag]) => flag.replace(/='(.*)'$/, '=$1'));
}

beforeAll(async () => {
  const harness = ensurePeer('gitea-goth');
  server = await startServer();
  addUser(server, 'alice', 'alice password', ['--groups', 'admins,family']);
  addUser(server, 'bob', 'bob password', ['--groups', 'family']);
  const port = await freePort();
  giteaUrl = `http://127.0.0.1:${port}`;
  const added = server.cli(['app', 'add', 'gitea', '--url', giteaUrl]);
  expect(added.status, added.stderr).toBe(0);
  printed = added.stdout;

  gitea = spawn(harness, [...addOauthFlags(printed), `--app-url=${giteaUrl}/`, `--listen=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  gitea.stderr!.on('data', (d) => { stderr += d; });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: gitea.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event.ready) return resolve();
      signIns.push(event);
    });
    gitea.once('exit', (code) => reject(new Error(`the goth harness exited (${code}):\n${stderr}`)));
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (gitea && gitea.exitCode === null) {
    const exited = new Promise((resolve) => gitea.once('exit', resolve));
    gitea.kill('SIGTERM');
    await exited;
  }
  await stopCleanly(server);
});

async function signInToGitea(username: string, password: string): Promise<Record<string, unknown>> {
  const before = signIns.length;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${giteaUrl}/user/oauth2/accouch`);
  await page.waitForSelector('#username');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]:has-text("Sign in")');
  await page.waitForSelector(`h1:has-text("Signed in as ${username}")`).catch(async (error: Error) => {
    throw new Error(`${error.message}\nat ${page.url()}: ${(await page.textContent('body'))?.slice(0, 300)}\n${JSON.stringify(signIns.slice(before))}\n${stderr}`);
  });
  await context.close();
  expect(signIns.length).toBe(before + 1);
  return signIns.at(-1)!;
}

describe('Gitea\'s OpenID Connect source (goth), set up with the flags `accouch app add gitea` prints', () => {
  it('signs in an admin: the username from nickname, the groups from the groups claim, site administrator', async () => {
    expect(await signInToGitea('alice', 'alice password')).toEqual({
      username: 'alice', email: 'alice@home.example', name: 'Alice Example', groups: ['admins', 'family'], admin: true,
    });
  });

  it('signs in a member outside admins as a plain user', async () => {
    expect(await signInToGitea('bob', 'bob password')).toMatchObject({ username: 'bob', groups: ['family'], admin: false });
  });

  it('goth sends no PKCE: the preset\'s client is confidential, so its secret protects the code', () => {
    const list = server.cli(['client', 'list']);
    expect(list.stdout).toMatch(/^gitea\s+Gitea\s+confidential\s/m);
  });
});
