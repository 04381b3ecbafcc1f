// Who the "Who is signing in?" page shows: everyone up to the tile limit, else the latest sign-ins, or a search's
// matches; and the search box's value checked before it reaches the store.
import { describe, expect, test } from 'vitest';
import { listHousehold, matchLimit, parseSearch, searchMaxLength, tileLimit } from '../../../src/auth/household.js';
import { recordLastSignIn } from '../../../src/store/people.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const names = (chooser: { people: Array<{ username: string }> }) => chooser.people.map((p) => p.username);

async function seed(count: number) {
  const db = await openTestDb();
  const users = [];
  for (let i = 0; i < count; i += 1) users.push(await createUser(db, { username: `p${String(i).padStart(2, '0')}`, name: `Person ${i}` }));
  return { db, users, household: listHousehold(db) };
}

describe('the chooser', () => {
  test('a household that fits shows everyone as today, with no search', async () => {
    const { household } = await seed(tileLimit);
    const chooser = await household.chooser('');
    expect(names(chooser)).toHaveLength(tileLimit);
    expect(chooser.search).toBeUndefined();
  });

  test('a larger household shows the latest sign-ins (at most the tile limit) and offers a search', async () => {
    const { db, users, household } = await seed(tileLimit + 5);
    expect(await household.chooser('')).toEqual({ people: [], search: { query: '', kind: 'recent' } });
    for (const [i, user] of users.entries()) await recordLastSignIn(db, user.id, 1_900_000_000 + i);
    const chooser = await household.chooser('');
    expect(names(chooser)).toEqual(users.slice(-tileLimit).reverse().map((u) => u.username));
    expect(chooser.search).toEqual({ query: '', kind: 'recent' });
  });

  test('a search shows its matches, at most the match limit', async () => {
    const { household } = await seed(30);
    const chooser = await household.chooser('p1');
    expect(names(chooser)).toEqual(Array.from({ length: 10 }, (_, i) => `p1${i}`));
    expect(chooser.search).toEqual({ query: 'p1', kind: 'matches', more: false });
    expect((await household.chooser('p')).search).toEqual({ query: 'p', kind: 'matches', more: true });
    expect(names(await household.chooser('p'))).toHaveLength(matchLimit);
    expect(names(await household.chooser('Person 2'))).toEqual(['p02', 'p20', 'p21', 'p22', 'p23', 'p24', 'p25', 'p26', 'p27', 'p28']);
  });
});

describe('parseSearch', () => {
  test('trims, and an absent or blank search is none', () => {
    expect(parseSearch(undefined)).toBe('');
    expect(parseSearch('   ')).toBe('');
    expect(parseSearch('  ann ')).toBe('ann');
    expect(parseSearch('🌱'.repeat(searchMaxLength))).toHaveLength(2 * searchMaxLength);
  });

  test.each([
    ['x'.repeat(searchMaxLength + 1), 'at most 64 characters'],
    [['ann', 'bob'], 'one name at a time'],
  ])('refuses %j with a 400', (raw, message) => {
    expect(() => parseSearch(raw)).toThrow(expect.objectContaining({ status: 400, message: expect.stringContaining(message) }));
  });
});
