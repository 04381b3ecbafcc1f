// Signing keys (RS256 default, ES256 and EdDSA on request) and cookie keys: generated once, kept in the
// database, rotated by `accouch keys rotate`. Retired public keys stay published until their tokens expire.
import { createHash, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { deleteRetiredKeys, ensureSecret, insertFirstKeys, listSigningKeys, replaceActiveKeys, type SigningKey } from '../store/keys.js';

type NewKey = Pick<SigningKey, 'kid' | 'alg' | 'privateJwk'>;

/** RFC 7638 thumbprint over the required public members, used as kid. */
function thumbprint(jwk: JsonWebKey): string {
  const members: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const required = Object.fromEntries(members[jwk.kty!]!.map((m) => [m, (jwk as Record<string, unknown>)[m]]));
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

function keyFor(alg: 'RS256' | 'ES256' | 'EdDSA'): NewKey {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = thumbprint(jwk);
  return { kid, alg, privateJwk: { ...jwk, kid, alg, use: 'sig' } };
}

const newKeySet = () => [keyFor('RS256'), keyFor('ES256'), keyFor('EdDSA')];

/** Generates the first key set unless the database already has one. */
export async function ensureSigningKeys(db: Db): Promise<boolean> {
  const existing = await listSigningKeys(db);
  if (existing.some((k) => k.state === 'active')) return false;
  return insertFirstKeys(db, newKeySet());
}

/** Makes a fresh key set active and retires the previous one. */
export async function rotateSigningKeys(db: Db, now = epoch()): Promise<SigningKey[]> {
  await replaceActiveKeys(db, newKeySet(), now);
  return listSigningKeys(db);
}

/** How long a retired key stays published: the longest lifetime of anything it signed, plus clock skew. */
export const keyRetention = (ttl: { idToken: number; kubectlIdToken?: number; accessToken: number; clientCredentials: number }) =>
  Math.max(ttl.idToken, ttl.kubectlIdToken ?? 0, ttl.accessToken, ttl.clientCredentials) + 300;

/** Private JWKs for oidc-provider, active first (it signs with the first key of an alg); prunes expired retired keys. */
export async function loadJwks(db: Db, retention: number, now = epoch()): Promise<{ keys: Array<Record<string, unknown>> }> {
  await deleteRetiredKeys(db, now - retention);
  const keys = await listSigningKeys(db);
  return { keys: keys.map((k) => k.privateJwk) };
}

/** Cookie signing keys, generated on first use and shared by every replica. */
export async function loadCookieKeys(db: Db): Promise<string[]> {
  const stored = await ensureSecret(db, 'cookie_keys', JSON.stringify([randomBytes(32).toString('base64url')]));
  return JSON.parse(stored);
}
