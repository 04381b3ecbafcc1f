// What a browser and an app do before the load starts: a cookie jar over fetch, authorization requests with
// PKCE, sign-ins on the real pages, and codes and tokens minted from the resulting sessions.
import { createHash, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

export const redirectUri = 'https://app.example/callback';
export const scope = 'openid profile email groups';

export class Agent {
  cookies = new Map();

  constructor(origin) {
    this.origin = origin;
  }

  #store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The server's own URLs: it names itself by the issuer (localhost) while we connect to 127.0.0.1. */
  isOwn(url) {
    const own = new URL(this.origin);
    return url.port === own.port && ['localhost', '127.0.0.1'].includes(url.hostname) && url.protocol === own.protocol;
  }

  get cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path, init = {}) {
    const res = await fetch(new URL(path, this.origin), {
      ...init,
      redirect: 'manual',
      headers: { ...(this.cookies.size ? { cookie: this.cookieHeader } : {}), ...init.headers },
    });
    this.#store(res);
    return res;
  }

  post(path, form) {
    return this.request(path, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  postJson(path, body) {
    return this.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  }

  /** Follows same-origin redirects; returns the first response that is not one, or the off-site location. */
  async follow(res) {
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops += 1) {
      const next = new URL(res.headers.get('location'), this.origin);
      if (!this.isOwn(next)) return { res, offsite: next };
      await res.arrayBuffer();
      res = await this.request(next.pathname + next.search);
    }
    return { res, offsite: undefined };
  }
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Path and query of an authorization request for the bench app. */
export function authPath(clientId, challenge) {
  const query = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope, redirect_uri: redirectUri,
    code_challenge: challenge, code_challenge_method: 'S256', state: randomBytes(8).toString('base64url'), nonce: randomBytes(8).toString('base64url'),
  });
  return `/auth?${query}`;
}

/** Starts an authorization request without a session: the interaction's path and the cookies that go with it. */
export async function newInteraction(origin, clientId) {
  const agent = new Agent(origin);
  const res = await agent.request(authPath(clientId, pkce().challenge));
  await res.arrayBuffer();
  if (res.status !== 303 && res.status !== 302) throw new Error(`/auth answered ${res.status}`);
  const path = new URL(res.headers.get('location'), origin).pathname;
  return { path, cookie: agent.cookieHeader, agent };
}

/** The code on a callback URL, or an error naming what the provider said. */
export function codeOf(url) {
  const code = url?.searchParams.get('code');
  if (!code) throw new Error(`no code in ${url} (${url?.searchParams.get('error_description') ?? ''})`);
  return code;
}

/**
 * Signs in on Accouch's pages with a password (and passes the consent step the app skips), leaving a session
 * in `agent`; returns the first code.
 */
export async function signInWithPassword(agent, clientId, username, password) {
  const { verifier, challenge } = pkce();
  let { res, offsite } = await agent.follow(await agent.request(authPath(clientId, challenge)));
  if (offsite) return { code: codeOf(offsite), verifier };
  const page = await res.text();
  if (res.status !== 200) throw new Error(`sign-in page answered ${res.status}: ${page.slice(0, 300)}`);
  const action = page.match(/action="([^"]*\/password)"/)?.[1];
  if (!action) throw new Error(`no password form on the sign-in page: ${page.slice(0, 300)}`);
  ({ res, offsite } = await agent.follow(await agent.post(action.replace(/&amp;/g, '&'), { username, password })));
  if (!offsite) throw new Error(`password sign-in did not finish: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return { code: codeOf(offsite), verifier };
}

/** Signs in on Accouch's pages with a passkey (the discoverable flow of the lock screen); returns the first code. */
export async function signInWithPasskey(agent, clientId, authenticator) {
  const { verifier, challenge } = pkce();
  let { res, offsite } = await agent.follow(await agent.request(authPath(clientId, challenge)));
  if (offsite) return { code: codeOf(offsite), verifier };
  await res.arrayBuffer();
  const interaction = new URL(res.url).pathname;
  res = await agent.postJson(`${interaction}/webauthn/options`, {});
  const options = await res.json();
  if (res.status !== 200) throw new Error(`passkey options answered ${res.status}: ${JSON.stringify(options)}`);
  res = await agent.postJson(`${interaction}/webauthn`, { response: authenticator.assert(options.challenge) });
  const body = await res.json();
  if (res.status !== 200 || !body.redirect) throw new Error(`passkey sign-in answered ${res.status}: ${JSON.stringify(body)}`);
  const next = new URL(body.redirect);
  ({ res, offsite } = await agent.follow(await agent.request(next.pathname + next.search)));
  if (!offsite) throw new Error(`passkey sign-in did not finish: ${res.status}`);
  return { code: codeOf(offsite), verifier };
}

/** The bare engine's sign-in: its interaction route signs a fixed account in and grants the scopes at once. */
export async function signInBare(agent, clientId) {
  const { verifier, challenge } = pkce();
  const { offsite } = await agent.follow(await agent.request(authPath(clientId, challenge)));
  return { code: codeOf(offsite), verifier };
}

/** One more code from an existing session (no page in between: the app is already allowed). */
export async function mintCode(agent, clientId) {
  const { verifier, challenge } = pkce();
  const res = await agent.request(authPath(clientId, challenge));
  await res.arrayBuffer();
  const location = res.headers.get('location');
  if (!location) throw new Error(`/auth answered ${res.status} without a redirect`);
  const url = new URL(location, agent.origin);
  if (agent.isOwn(url)) throw new Error(`/auth asked for an interaction (${url.pathname}): the session did not carry`);
  return { code: codeOf(url), verifier };
}

/** Runs `task(i)` for i < count with at most `parallel` in flight. */
export async function pool(count, parallel, task) {
  const results = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  }));
  return results;
}

/**
 * Mints up to `count` codes from the given sessions, round-robin, for at most `seconds`: one authorization
 * request each, sent by autocannon (fetch costs the load generator more than the servers spend on the
 * request). Returns them in minting order.
 */
export async function mintCodes(agents, clientId, count, { connections = 8, seconds = 60 } = {}) {
  if (count <= 0) return [];
  const origin = new URL(agents[0].origin);
  const pending = new Map();
  const codes = [];
  const failures = [];
  let next = 0;
  let instance;
  await new Promise((resolve, reject) => {
    instance = autocannon({
      url: origin.origin, connections: Math.min(connections, count), duration: seconds, maxOverallRequests: count, pipelining: 1,
      requests: [{
        method: 'GET',
        setupRequest(req) {
          const { verifier, challenge } = pkce();
          const path = authPath(clientId, challenge);
          pending.set(new URL(path, origin).searchParams.get('state'), verifier);
          return { ...req, path, headers: { ...req.headers, cookie: agents[next++ % agents.length].cookieHeader } };
        },
        onResponse(status, _body, _context, headers) {
          const location = headers.location ?? headers.Location;
          const url = location ? new URL(location, origin) : undefined;
          const code = url?.searchParams.get('code');
          if (status >= 300 && status < 400 && code) codes.push({ code, verifier: pending.get(url.searchParams.get('state')) });
          else failures.push(`${status} ${location ?? ''}`);
          if (codes.length + failures.length >= count) instance?.stop();
        },
      }],
    }, (error) => (error ? reject(error) : resolve()));
  });
  if (failures.length) throw new Error(`minting codes: ${failures.length} of ${count} failed, e.g. ${failures[0]}`);
  return codes;
}

export const basicAuth = (clientId, secret) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Redeems a code at the token endpoint as the app does; returns the token response. */
export async function redeem(origin, client, { code, verifier }, tokenPath = '/token') {
  const res = await fetch(new URL(tokenPath, origin), {
    method: 'POST',
    headers: { authorization: basicAuth(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`code redemption answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}
