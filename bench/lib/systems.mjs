// The two systems under load, behind one shape: Accouch (signed into with a password on its real pages) and
// the bare engine (whose interaction route signs a static account in). Each yields sessions, refresh-token
// chains, access tokens and authorization codes minted the same way: through HTTP, as a browser and an app.
import { generateKeyPairSync, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientId, startAccouch, userName, userPassword } from './accouch.mjs';
import { Agent, mintCodes, newInteraction, pool, redeem, signInBare, signInWithPasskey, signInWithPassword } from './browser.mjs';
import { startProcess } from './processes.mjs';

/** A private JWKS like Accouch's (RS256, ES256, EdDSA) for the bare engine. */
export function writeBareJwks(file) {
  const key = (alg) => {
    const { privateKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const kid = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url').slice(0, 43);
    return { ...jwk, kid, alg, use: 'sig' };
  };
  writeFileSync(file, JSON.stringify({ keys: [key('RS256'), key('ES256'), key('EdDSA')] }));
}

export const bareSecret = 'bench-secret-bench-secret-bench-secret';

export function startBare({ port, logDir, jwksFile, label = 'bare' }) {
  return startProcess({
    name: label, args: [join(import.meta.dirname, '..', 'bare-engine.mjs')], port, readyPath: '/readyz', logFile: join(logDir, `${label}.log`),
    env: { BARE_PORT: String(port), BARE_ISSUER: `http://localhost:${port}`, BARE_JWKS_FILE: jwksFile, BARE_CLIENT_SECRET: bareSecret },
  });
}

/** Accouch's sessions: the first two sign in with a password (users from the CLI), the rest with the owner's passkey. */
export function accouchSystem({ server, client, users, authenticator }) {
  return {
    label: 'Accouch', server, client, origin: `http://127.0.0.1:${server.port}`,
    signIn: (agent, i) => (i < 2 || !authenticator
      ? signInWithPassword(agent, clientId, userName(i % users), userPassword)
      : signInWithPasskey(agent, clientId, authenticator)),
  };
}

export function bareSystem({ server }) {
  return {
    label: 'bare oidc-provider', server, client: { id: 'bench-app', secret: bareSecret }, origin: `http://127.0.0.1:${server.port}`,
    signIn: (agent) => signInBare(agent, 'bench-app'),
  };
}

/**
 * Signs `sessions` browsers in (one grant each, so no grant collects an unrealistic number of tokens), then
 * redeems their first codes: the refresh tokens start the rotation chains, the access tokens feed userinfo
 * and introspection. The sessions mint the codes of the authorization_code scenario later.
 */
export async function prepareTokens(system, { sessions }) {
  const agents = [];
  const codes = await pool(sessions, 4, async (i) => {
    const agent = new Agent(system.origin);
    agents[i] = agent;
    return system.signIn(agent, i);
  });
  const tokens = await pool(codes.length, 8, (i) => redeem(system.origin, system.client, codes[i], system.paths?.token));
  return { agents, refresh: tokens.map((t) => t.refresh_token), access: tokens.map((t) => t.access_token) };
}

/**
 * Mints up to `count` codes from the sessions within `seconds`; returns them oldest first and the minting rate. A
 * system whose authorization requests need more than one round trip (Ory Hydra's login and consent steps) mints
 * its own way.
 */
export async function mintFor(system, agents, count, seconds) {
  const started = performance.now();
  const codes = system.mint ? await system.mint(agents, count, seconds) : await mintCodes(agents, system.client.id, count, { seconds });
  return { codes, perSecond: codes.length / ((performance.now() - started) / 1000) };
}

/** Fresh interactions on the sign-in page (no session): path and cookies; `username` for password sign-ins. */
export async function prepareInteractions(system, count, users = 0) {
  return pool(count, 8, async (i) => {
    const it = await newInteraction(system.origin, system.client.id);
    return { path: it.path, cookie: it.cookie, username: users ? userName(i % users) : undefined };
  });
}

export { startAccouch };
