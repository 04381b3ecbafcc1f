// The household as the "Who is signing in?" page reads it: a few people at a time, each read through an index
// (the latest sign-in, the start of a username or of a name), so the page costs the same for 10 people or 1,000.
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { epoch, isPostgres } from './db.js';
import { avatarEtagOf } from './avatars.js';
import { prepared } from './prepared.js';
import type { Database } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

/** What a sign-in page shows of someone: no groups, no email, nothing secret. */
export interface PersonRow {
  id: string;
  username: string;
  name: string;
  avatarEtag: string | null;
}

const people = (db: Executor) => db.selectFrom('users')
  .select(['users.id', 'users.username', 'users.name'])
  .select((eb) => avatarEtagOf(eb).as('avatarEtag'))
  .where('users.disabled', '=', 0);

/** Byte order on both engines: PostgreSQL's default collation may follow the locale, its indexes say "C". */
const bytes = (db: Executor, expr: RawBuilder<string>) => (isPostgres(db) ? sql<string>`${expr} collate "C"` : expr);

/** The queries as kysely builds them (exported for the query-plan test); run through prepared() below. */
export const peopleQueries = {
  byUsername: (db: Executor, limit: number) => people(db).orderBy('users.username').limit(limit),
  recent: (db: Executor, limit: number) => people(db).where('users.last_sign_in_at', 'is not', null).orderBy('users.last_sign_in_at', 'desc').limit(limit),
  /** Usernames from `from` (inclusive) to `to` (exclusive), in byte order. */
  usernameRange: (db: Executor, from: string, to: string, limit: number) => {
    const username = bytes(db, sql<string>`users.username`);
    return people(db).where(username, '>=', from).where(username, '<', to).orderBy(username).limit(limit);
  },
  /** Names whose lower() is from `from` (inclusive) to `to` (exclusive), in byte order. */
  nameRange: (db: Executor, from: string, to: string, limit: number) => {
    const name = bytes(db, sql<string>`lower(users.name)`);
    return people(db).where(name, '>=', from).where(name, '<', to).orderBy(name).limit(limit);
  },
};

// Every "Who is signing in?" page runs them: compiled once per engine (prepared.ts).
const byUsername = prepared(1, peopleQueries.byUsername);
const recent = prepared(1, peopleQueries.recent);
const usernameRange = prepared(3, peopleQueries.usernameRange);
const nameRange = prepared(3, peopleQueries.nameRange);

/** Active users in username order, at most `limit` (the page asks for one more than it shows to learn if there are more). */
export async function listPeople(db: Executor, limit: number): Promise<PersonRow[]> {
  return (await byUsername(db, limit)).rows;
}

/** The active users who signed in most recently, latest first, at most `limit`. */
export async function listRecentPeople(db: Executor, limit: number): Promise<PersonRow[]> {
  return (await recent(db, limit)).rows;
}

/** Notes a finished sign-in for the lock screen's recent members. */
export async function recordLastSignIn(db: Executor, userId: string, now = epoch()): Promise<void> {
  await db.updateTable('users').set({ last_sign_in_at: now }).where('id', '=', userId).execute();
}

/** The first string after every string that starts with `prefix` (code point order, which is UTF-8 byte order). */
export function prefixEnd(prefix: string): string {
  const chars = [...prefix];
  const last = chars.pop()!.codePointAt(0)!;
  if (last >= 0x10ffff) return `${prefix}\u{10ffff}`;
  return chars.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
}

/** Lower case for A–Z only, as SQLite's lower() (and PostgreSQL's under a "C" ctype) folds. */
const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * Active users whose username or name starts with `prefix`, without case, in username order, at most `limit`.
 * Range reads on indexes (see the 2026_12_03_110300 migration), never a scan: usernames are stored in lower case;
 * names are compared through the engine's lower(), which may fold only ASCII letters, so a prefix with other
 * capitals ("Él") is looked up as typed too.
 */
export async function searchPeople(db: Executor, prefix: string, limit: number): Promise<PersonRow[]> {
  const lower = prefix.toLowerCase();
  if (!lower) return [];
  const reads = [
    usernameRange(db, lower, prefixEnd(lower), limit),
    ...[...new Set([lower, asciiLower(prefix)])].map((from) => nameRange(db, from, prefixEnd(from), limit)),
  ];
  const found = new Map((await Promise.all(reads)).flatMap((result) => result.rows).map((p) => [p.id, p]));
  return [...found.values()].sort((a, b) => (a.username < b.username ? -1 : 1)).slice(0, limit);
}
