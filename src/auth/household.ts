// The household as the sign-in pages show it: names, initials and pictures, never anything secret.
import type { Db } from '../store/db.js';
import { findAvatar } from '../store/avatars.js';
import { findUserByUsername, listUsers, type User } from '../store/users.js';

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

export function listHousehold(db: Db) {
  return {
    async list(): Promise<Person[]> {
      return (await listUsers(db)).filter((u) => !u.disabled).map(present);
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
