// The household as the sign-in pages show it: names, initials and pictures, never anything secret.
import { badRequest } from '../errors.js';
import type { Db } from '../store/db.js';
import { findAvatar } from '../store/avatars.js';
import { listPeople, listRecentPeople, searchPeople } from '../store/people.js';
import { findUserByUsername, type User } from '../store/users.js';

export interface Person {
  id: string;
  username: string;
  name: string;
  initials: string;
  /** Path of the uploaded picture under the issuer, or null for an initials badge. */
  avatarPath: string | null;
  /** One of 12 badge colours (CSS classes hue-0..hue-11), stable per user. */
  hue: number;
}

export function initialsOf(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0]![0], words.at(-1)![0]] : [...(words[0] ?? '?')].slice(0, 2);
  return letters.join('').toUpperCase();
}

export function present(user: Pick<User, 'id' | 'username' | 'name' | 'avatarEtag'>): Person {
  let hash = 0;
  for (const char of user.id) hash = (hash * 31 + char.charCodeAt(0)) % 12;
  return {
    id: user.id,
    username: user.username,
    name: user.name,
    initials: initialsOf(user.name),
    avatarPath: user.avatarEtag ? `/avatars/${user.id}?v=${user.avatarEtag}` : null,
    hue: hash,
  };
}

/**
 * Tiles on the "Who is signing in?" page at most: two rows of four, one phone screen with the username form still
 * in sight, and about as many people as share a household's devices. A household this size or smaller sees
 * everyone, as a family's lock screen does; a larger one sees who signed in last, and finds anyone else by search.
 */
export const tileLimit = 8;
/** Matches a search shows at most: the first ones in username order; typing more letters narrows them. */
export const matchLimit = 10;
/** The longest search (usernames and names are far shorter). */
export const searchMaxLength = 64;

/** The chooser page's people: every member, or (in a larger household) the recent ones or a search's matches. */
export interface Chooser {
  people: Person[];
  /** Present when the household has more members than tiles: the page offers a search. */
  search?: { query: string; kind: 'recent' | 'matches'; more?: boolean };
}

/** The search box's value from a query string: trimmed, at most searchMaxLength characters, else a 400. */
export function parseSearch(raw: unknown): string {
  if (raw === undefined) return '';
  if (typeof raw !== 'string') throw badRequest('Search for one name at a time.');
  const query = raw.trim();
  if ([...query].length > searchMaxLength) throw badRequest(`Type at most ${searchMaxLength} characters to search.`);
  return query;
}

export function listHousehold(db: Db) {
  return {
    /**
     * Who the chooser shows: everyone when they fit on the page, else the most recent sign-ins, or the matches of
     * `query`. At most three indexed reads of a few rows each, whatever the household's size.
     */
    async chooser(query: string): Promise<Chooser> {
      if (query) {
        const matches = await searchPeople(db, query, matchLimit + 1);
        return { people: matches.slice(0, matchLimit).map(present), search: { query, kind: 'matches', more: matches.length > matchLimit } };
      }
      const first = await listPeople(db, tileLimit + 1);
      if (first.length <= tileLimit) return { people: first.map(present) };
      return { people: (await listRecentPeople(db, tileLimit)).map(present), search: { query: '', kind: 'recent' } };
    },
    async byUsername(username: string): Promise<User | undefined> {
      const user = await findUserByUsername(db, username);
      return user && !user.disabled ? user : undefined;
    },
  };
}

/** A user's uploaded picture, for the /avatars route. */
export const avatarOf = (db: Db, userId: string) => findAvatar(db, userId);

export { usernamePattern } from './profile.js';
