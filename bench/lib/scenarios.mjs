// The measured scenarios as autocannon request lists. Stateful ones draw from pools filled beforehand:
// authorization codes (single use, with their PKCE verifiers), refresh-token chains (each response's new
// token goes back into the pool, so a token is never presented twice), interactions for the sign-in pages.
import { authPath, basicAuth, pkce, redirectUri } from './browser.mjs';

const form = 'application/x-www-form-urlencoded';
const tokenHeaders = (client) => ({ authorization: basicAuth(client.id, client.secret), 'content-type': form });
const redirect = (status) => status === 302 || status === 303;

/** Where Accouch and the bare engine answer; a system with other routes (Ory Hydra) passes its own. */
export const defaultPaths = { token: '/token', userinfo: '/me', introspection: '/token/introspection', jwks: '/jwks' };

export const discovery = () => ({ name: 'discovery', requests: [{ method: 'GET', path: '/.well-known/openid-configuration' }] });

export const jwks = (paths = defaultPaths) => ({ name: 'JWKS', requests: [{ method: 'GET', path: paths.jwks }] });

/** GET /auth without a session: validates the request, stores a new interaction, redirects to the sign-in page. */
export const authorize = (clientId) => ({
  name: 'authorize (new interaction)', expect: redirect,
  requests: [{ method: 'GET', path: authPath(clientId, pkce().challenge) }],
});

/** The sign-in page of an interaction (each connection renders its own, with its interaction cookie). */
export function loginPage(interactions) {
  let next = 0;
  return {
    name: 'login page render',
    expect: (status, body) => status === 200 && /<form/.test(body),
    requests: [{
      method: 'GET',
      setupRequest(req) {
        const it = interactions[next++ % interactions.length];
        return { ...req, path: it.path, headers: { ...req.headers, cookie: it.cookie } };
      },
    }],
  };
}

/** Password sign-in: POST the form (scrypt N=2^14, r=8, p=5 per attempt), 303 onwards. */
export function passwordSignIn(interactions, password, connections = 4) {
  const free = [...interactions];
  return {
    name: 'password sign-in', connections, expect: redirect,
    requests: [{
      method: 'POST',
      headers: { 'content-type': form },
      setupRequest(req, context) {
        const it = free.shift();
        context.it = it;
        return { ...req, path: `${it.path}/password`, headers: { ...req.headers, cookie: it.cookie }, body: new URLSearchParams({ username: it.username, password }).toString() };
      },
      onResponse(_status, _body, context) {
        free.push(context.it);
      },
    }],
  };
}

/**
 * Passkey sign-in: fetch the options (a fresh server-side challenge), sign it with the software
 * authenticator, POST the assertion. One operation = the pair; the rate counts verified assertions.
 */
export function passkeySignIn(interactions, authenticator) {
  const free = [...interactions];
  const json = { 'content-type': 'application/json' };
  return {
    name: 'passkey sign-in (options + assertion)',
    counts: (index) => index === 1,
    expect: (status, body) => status === 200 && body.includes('"redirect"'),
    requests: [
      {
        method: 'POST',
        setupRequest(req, context) {
          context.it = free.shift();
          return { ...req, path: `${context.it.path}/webauthn/options`, headers: { ...req.headers, ...json, cookie: context.it.cookie }, body: '{}' };
        },
        onResponse(status, body, context) {
          if (status === 200) context.challenge = JSON.parse(body).challenge;
        },
      },
      {
        method: 'POST',
        setupRequest(req, context) {
          const response = authenticator.assert(context.challenge ?? 'none');
          return { ...req, path: `${context.it.path}/webauthn`, headers: { ...req.headers, ...json, cookie: context.it.cookie }, body: JSON.stringify({ response }) };
        },
        onResponse(_status, _body, context) {
          free.push(context.it);
        },
      },
    ],
  };
}

/** The token request that redeems a minted code with its PKCE verifier. */
const codeBody = (next) => new URLSearchParams({ grant_type: 'authorization_code', code: next.code, redirect_uri: redirectUri, code_verifier: next.verifier }).toString();

/**
 * authorization_code: every request redeems a distinct code minted beforehand, with its verifier. The
 * warm-up draws from its own share of the codes, so it cannot leave the measured run without any.
 */
export function authorizationCode(client, codes, paths = defaultPaths, warmupShare = 0.2) {
  const measured = codes.splice(Math.floor(codes.length * warmupShare));
  let pool = codes;
  let instance;
  let measureStart = 0;
  let dryAt;
  return {
    name: 'token: authorization_code',
    onInstance: (i) => { instance = i; },
    beforeMeasure: () => { pool = measured; measureStart = performance.now(); dryAt = undefined; },
    // Should the measured pool run dry, the rate covers the time until it did (and the report says so).
    elapsed: () => (dryAt ? (dryAt - measureStart) / 1000 : undefined),
    dryNote: (seconds) => (dryAt ? `code pool ran dry after ${seconds.toFixed(1)} s; rate over that time` : undefined),
    requests: [{
      method: 'POST', path: paths.token, headers: tokenHeaders(client),
      setupRequest(req) {
        const next = pool.shift();
        if (!next) {
          if (pool === measured) dryAt ??= performance.now();
          setImmediate(() => instance?.stop());
          return { ...req, body: 'grant_type=authorization_code&code=pool-ran-dry' };
        }
        return { ...req, body: codeBody(next) };
      },
    }],
  };
}

/**
 * authorization_code in runs of a known number of requests (an alternating run's warm-up and slices):
 * `supply(codes)` replaces the codes left with fresh ones (once for the warm-up, once for all the slices), and each
 * is redeemed once. A request that finds none redeems a code that does not exist, fails, and is noted.
 */
export function codeExchange(client, paths = defaultPaths) {
  let pool = [];
  let missing = 0;
  return {
    name: 'token: authorization_code',
    supply: (codes) => { pool = codes; },
    beforeMeasure: () => { missing = 0; },
    dryNote: () => (missing ? `${missing} requests found no code left (failed)` : undefined),
    requests: [{
      method: 'POST', path: paths.token, headers: tokenHeaders(client),
      setupRequest(req) {
        const next = pool.shift();
        if (!next) missing += 1;
        return { ...req, body: next ? codeBody(next) : 'grant_type=authorization_code&code=pool-ran-dry' };
      },
    }],
  };
}

/** refresh_token with rotation: per-request a token never used before, the previous response's. */
export function refreshToken(client, tokens, paths = defaultPaths) {
  return {
    name: 'token: refresh_token',
    requests: [{
      method: 'POST', path: paths.token, headers: tokenHeaders(client),
      setupRequest(req) {
        return { ...req, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(tokens.shift() ?? 'pool-ran-dry')}` };
      },
      onResponse(status, body) {
        if (status === 200) tokens.push(JSON.parse(body).refresh_token);
      },
    }],
  };
}

export const clientCredentials = (client, paths = defaultPaths) => ({
  name: 'token: client_credentials',
  requests: [{ method: 'POST', path: paths.token, headers: tokenHeaders(client), body: 'grant_type=client_credentials' }],
});

export function userinfo(accessTokens, paths = defaultPaths) {
  let next = 0;
  return {
    name: 'userinfo',
    requests: [{
      method: 'GET', path: paths.userinfo,
      setupRequest(req) {
        return { ...req, headers: { ...req.headers, authorization: `Bearer ${accessTokens[next++ % accessTokens.length]}` } };
      },
    }],
  };
}

export function introspection(client, accessTokens, paths = defaultPaths, origin = undefined) {
  let next = 0;
  return {
    name: 'introspection',
    origin,
    expect: (status, body) => status === 200 && body.includes('"active":true'),
    requests: [{
      method: 'POST', path: paths.introspection, headers: tokenHeaders(client),
      setupRequest(req) {
        return { ...req, body: `token=${accessTokens[next++ % accessTokens.length]}` };
      },
    }],
  };
}
