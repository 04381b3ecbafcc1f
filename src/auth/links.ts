// One-time links (first-boot setup, later invites and resets): a random token in the URL, only its MAC in
// the database, an expiry, and single use.
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { consumeLinkToken, findLinkToken, insertLinkToken, updateLinkTokenState, type LinkToken } from '../store/factors.js';
import type { SecretBox } from './secret-key.js';

export type LinkPurpose = LinkToken['purpose'];

export interface ValidLink<State> { id: string; purpose: LinkPurpose; userId: string | null; state: State; expiresAt: number }

const hashOf = (box: SecretBox, token: string) => box.mac('link', token);

/** Creates a link token; returns the raw token, which is never stored. */
export async function createLink(db: Db, box: SecretBox, input: { purpose: LinkPurpose; userId?: string; ttl: number; state?: object }, now = epoch()): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  await insertLinkToken(db, {
    id: randomBytes(12).toString('base64url'),
    token_hash: hashOf(box, token),
    purpose: input.purpose,
    user_id: input.userId ?? null,
    state: JSON.stringify(input.state ?? {}),
    expires_at: now + input.ttl,
    used_at: null,
    created_at: now,
  });
  return token;
}

/** The link a token names, if it has this purpose, is unused and unexpired. */
export async function findValidLink<State extends object>(db: Db, box: SecretBox, token: unknown, purpose: LinkPurpose, now = epoch()): Promise<ValidLink<State> | undefined> {
  if (typeof token !== 'string' || token.length < 16 || token.length > 128) return undefined;
  const row = await findLinkToken(db, hashOf(box, token));
  if (!row || row.purpose !== purpose || row.used_at !== null || Number(row.expires_at) <= now) return undefined;
  return { id: row.id, purpose: row.purpose, userId: row.user_id, state: JSON.parse(row.state) as State, expiresAt: Number(row.expires_at) };
}

export const saveLinkState = (db: Db, id: string, state: object) => updateLinkTokenState(db, id, JSON.stringify(state));

/** Uses the link up; false when another request already did. */
export const useLink = (db: Db, id: string, now = epoch()) => consumeLinkToken(db, id, now);
