// Query functions for household users and their groups.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { conflict } from '../errors.js';
import { epoch, isPostgres, isUniqueViolation } from './db.js';
import { avatarEtagOf } from './avatars.js';
import { prepared } from './prepared.js';
import type { Database, UsersTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface User {
  id: string;
  username: string;
  name: string;
  email: string | null;
  emailVerified: boolean;
  picture: string | null;
  passwordHash: string | null;
  disabled: boolean;
  groups: string[];
  createdAt: number;
  /** Version of the uploaded profile picture, if any. */
  avatarEtag: string | null;
}

export interface NewUser {
  username: string;
  name: string;
  email?: string | null;
  emailVerified?: boolean;
  groups?: string[];
  passwordHash?: string | null;
}

/** A random subject identifier, never reused. */
export const newUserId = () => randomBytes(16).toString('base64url');

/** Usernames are compared case-insensitively; the stored form is lower case. */
export const normalizeUsername = (username: string) => username.trim().toLowerCase();

type UserRow = UsersTable & { avatar_etag: string | null; groups_json: string | string[] };

function toUser(row: UserRow): User {
  // SQLite gives the groups as JSON text, PostgreSQL's driver parses json itself.
  const groups = typeof row.groups_json === 'string' ? JSON.parse(row.groups_json) as string[] : row.groups_json;
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    email: row.email,
    emailVerified: row.email_verified === 1,
    picture: row.picture,
    passwordHash: row.password_hash,
    disabled: row.disabled === 1,
    groups,
    createdAt: Number(row.created_at),
    avatarEtag: row.avatar_etag,
  };
}

// Every user read, in one statement: the user, their picture's version and their groups (a sorted JSON array).
// Read on every token, userinfo and session check; under a write load every statement pays to reload its pages.
const userRows = (db: Executor) => db.selectFrom('users').selectAll('users')
  .select((eb) => avatarEtagOf(eb).as('avatar_etag'))
  .select(isPostgres(db)
    ? sql<string[]>`(select coalesce(json_agg(group_name order by group_name), '[]'::json) from user_groups where user_id = users.id)`.as('groups_json')
    : sql<string>`(select json_group_array(group_name) from (select group_name from user_groups where user_id = users.id order by group_name))`.as('groups_json'));

// Compiled once (prepared.ts).
const userById = prepared(1, (db, id: string) => userRows(db).where('users.id', '=', id), { cacheable: true });

/** Runs `work` in a transaction: a new one, or the caller's when `db` already is one. */
const inTransaction = <T>(db: Executor, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> =>
  db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);

/** Creates a user with a random, never reused subject identifier (inside the caller's transaction, if any). */
export async function createUser(db: Executor, input: NewUser & { id?: string }, now = epoch()): Promise<User> {
  const id = input.id ?? newUserId();
  const username = normalizeUsername(input.username);
  const groups = [...new Set(input.groups ?? [])].sort();
  try {
    await inTransaction(db, async (trx) => {
      await trx.insertInto('users').values({
        id,
        username,
        name: input.name,
        email: input.email ?? null,
        email_verified: input.emailVerified ? 1 : 0,
        picture: null,
        password_hash: input.passwordHash ?? null,
        disabled: 0,
        created_at: now,
        updated_at: now,
      }).execute();
      if (groups.length) await trx.insertInto('user_groups').values(groups.map((g) => ({ user_id: id, group_name: g }))).execute();
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`user "${username}" already exists`, error);
    throw error;
  }
  return (await findUserById(db, id))!;
}

export async function findUserById(db: Executor, id: string): Promise<User | undefined> {
  const [row] = (await userById(db, id)).rows;
  return row && toUser(row);
}

export async function findUserByUsername(db: Executor, username: string): Promise<User | undefined> {
  const row = await userRows(db).where('users.username', '=', normalizeUsername(username)).executeTakeFirst();
  return row && toUser(row);
}

/** A user with this email address (compared without case), if any. */
export async function findUserByEmail(db: Executor, email: string): Promise<User | undefined> {
  const row = await userRows(db).where((eb) => eb(eb.fn('lower', ['users.email']), '=', email.toLowerCase())).executeTakeFirst();
  return row && toUser(row);
}

/** How many users are in a group. */
export async function countGroupMembers(db: Executor, group: string): Promise<number> {
  const row = await db.selectFrom('user_groups').select((eb) => eb.fn.countAll<number>().as('n')).where('group_name', '=', group).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listUsers(db: Executor): Promise<User[]> {
  return (await userRows(db).orderBy('users.username').execute()).map(toUser);
}

export async function countUsers(db: Executor): Promise<number> {
  const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  return Number(count);
}

export async function setPasswordHash(db: Executor, userId: string, passwordHash: string | null, now = epoch()): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', userId).execute();
}

export interface ProfileChanges { name?: string; email?: string | null; emailVerified?: boolean; picture?: string | null; disabled?: boolean }

export async function updateProfile(db: Executor, userId: string, changes: ProfileChanges, now = epoch()): Promise<void> {
  await db.updateTable('users').set({
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.email !== undefined ? { email: changes.email } : {}),
    ...(changes.emailVerified !== undefined ? { email_verified: changes.emailVerified ? 1 : 0 } : {}),
    ...(changes.picture !== undefined ? { picture: changes.picture } : {}),
    ...(changes.disabled !== undefined ? { disabled: changes.disabled ? 1 : 0 } : {}),
    updated_at: now,
  }).where('id', '=', userId).execute();
}

/**
 * Inside a transaction, makes concurrent transactions about the same user wait for this one (check-then-write,
 * such as "not the last way in"). PostgreSQL only: SQLite runs one write transaction at a time.
 */
export async function lockUser(trx: Executor, userId: string): Promise<void> {
  if (isPostgres(trx)) await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
}

export async function setGroups(db: Executor, userId: string, groups: string[]): Promise<void> {
  await inTransaction(db, async (trx) => {
    await lockUser(trx, userId);
    await trx.deleteFrom('user_groups').where('user_id', '=', userId).execute();
    const unique = [...new Set(groups)].sort();
    if (unique.length) await trx.insertInto('user_groups').values(unique.map((g) => ({ user_id: userId, group_name: g }))).execute();
  });
}

/** Deletes a user and, by cascade, their groups, credentials, TOTP, recovery codes and picture. */
export async function deleteUser(db: Executor, userId: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
