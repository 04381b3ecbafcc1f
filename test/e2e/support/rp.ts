// The relying party side, with openid-client v6 as a real app would use it, plus the sign-in a person does.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { Agent, formAction } from './agent.js';
import type { RunningServer } from './server.js';

export const callback = 'https://app.example/callback';

export async function discover(server: RunningServer, clientId: string, secret?: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(server.issuer), clientId, secret ? { client_secret: secret } : undefined, secret ? undefined : oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
}

/** The app configured with how it proves itself at the token endpoint (its secret in either place, or its key). */
export function discoverWith(server: RunningServer, clientId: string, auth: oidc.ClientAuth, metadata: Partial<oidc.ClientMetadata> = {}): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(server.issuer), clientId, metadata, auth, { execute: [oidc.allowInsecureRequests] });
}

/** The token endpoint's answer to a client_credentials request: the access token, or the OAuth error code. */
export async function clientCredentials(config: oidc.Configuration): Promise<string> {
  try {
    return (await oidc.clientCredentialsGrant(config)).access_token;
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError) return `error: ${error.error}`;
    // A refused client: 401 with a Basic challenge carrying the error code.
    if (error instanceof oidc.WWWAuthenticateChallengeError) return `error: ${error.cause[0]?.parameters.error}`;
    throw error;
  }
}

/** Adds a user through the CLI, as the owner would. */
export function addUser(server: RunningServer, username: string, password: string, extra: string[] = []) {
  const result = server.cli(['user', 'add', username, '--name', `${username[0]!.toUpperCase()}${username.slice(1)} Example`, '--email', `${username}@home.example`, '--password-stdin', ...extra], password);
  expect(result.status, result.stderr).toBe(0);
}

/** Adds a client through the CLI and returns its secret (undefined for public clients). */
export function addClient(server: RunningServer, id: string, args: string[]): string | undefined {
  const result = server.cli(['client', 'add', id, ...args]);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.match(/client secret \(shown once, store it now\): (\S+)/)?.[1];
}

export interface AuthStart { url: URL; verifier: string; state: string; nonce: string }

export async function startAuth(config: oidc.Configuration, params: Record<string, string> = {}): Promise<AuthStart> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: callback,
    scope: 'openid profile email groups',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/**
 * Signs in on our pages with username and password and allows the consent page when shown.
 * Returns the URL the browser was finally sent to (the app's callback).
 */
export async function signIn(agent: Agent, server: RunningServer, authUrl: URL, username: string, password: string): Promise<URL> {
  const origin = new URL(server.issuer).origin;
  let { res, url } = await agent.follow(authUrl, origin);
  for (let step = 0; step < 4; step += 1) {
    if (url.origin !== origin) return url;
    const html = await res.text();
    expect(res.status, html).toBe(200);
    if (html.includes('name="password"')) {
      const post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
      ({ res, url } = await agent.follow(url, origin, post));
    } else if (html.includes('/confirm"')) {
      const post = await agent.post(new URL(formAction(html, '/confirm'), origin), {});
      ({ res, url } = await agent.follow(url, origin, post));
    } else {
      throw new Error(`unexpected page ${url}: ${html.slice(0, 500)}`);
    }
  }
  throw new Error('sign-in did not finish');
}

/** Full code flow: sign in, then redeem the code with PKCE. */
export async function codeFlow(server: RunningServer, config: oidc.Configuration, username: string, password: string, params: Record<string, string> = {}, agent = new Agent()) {
  const start = await startAuth(config, params);
  const returned = await signIn(agent, server, start.url, username, password);
  const tokens = await oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
  return { tokens, agent, returned };
}
