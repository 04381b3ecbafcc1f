// An app's own public keys (private_key_jwt) as an owner gives them in the console: the address of its JWK Set,
// or the set pasted as text. A pasted private key is refused before anything is parsed, stored or shown again;
// the config schema (clientSchema) checks the rest.
import { badRequest } from '../errors.js';

export interface AppKeysInput { jwksUri?: string | undefined; jwks?: string | undefined }
export type AppKeys = { jwksUri: string } | { jwks: unknown };

/** JWK members that only a private (or symmetric) key has (RFC 7518 section 6). */
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const privateMember = new RegExp(`"(?:${privateMembers.join('|')})"\\s*:`);

/**
 * Whether pasted text holds private key material: a JWK with "d" (or "k", a shared secret) or a PEM private key.
 * Read from the text, so a broken or cut-off paste of a private key is caught too.
 */
export const holdsPrivateKey = (text: string) => privateMember.test(text) || /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);

/** Exactly one of an address or a pasted JWK Set (a single pasted JWK counts as a set of one). */
export function appKeysFrom({ jwksUri, jwks }: AppKeysInput): AppKeys {
  const uri = jwksUri?.trim();
  const text = jwks?.trim();
  if (uri && text) throw badRequest('Give the address of the app\'s keys or paste them, not both.');
  if (uri) return { jwksUri: uri };
  if (!text) throw badRequest('Give the address of the app\'s public keys (a JWKS URI) or paste them (a JWK Set).');
  if (holdsPrivateKey(text)) {
    throw badRequest('That is a private key: it stays with the app and was not saved. Paste only the public keys (a JWK Set whose keys have no "d").');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('The pasted keys are not JSON: paste a JWK Set, { "keys": [ ... ] }.');
  }
  const single = parsed !== null && typeof parsed === 'object' && 'kty' in parsed && !('keys' in parsed);
  return { jwks: single ? { keys: [parsed] } : parsed };
}

/** What the audit log says about keys: the address, or how many keys and their ids; never the key material. */
export function keysForAudit(keys: AppKeys): Record<string, unknown> {
  if ('jwksUri' in keys) return { jwksUri: keys.jwksUri };
  const list = (keys.jwks as { keys: Array<{ kid?: unknown }> }).keys;
  return { keys: list.length, kids: list.map((k) => (typeof k.kid === 'string' ? k.kid : null)) };
}
