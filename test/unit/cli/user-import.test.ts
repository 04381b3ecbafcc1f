// `accouch user import`: each line checked with the profile rules of `user add`, and named when it is wrong.
import { describe, expect, test } from 'vitest';
import { parseImportLine } from '../../../src/cli/user-import.js';

describe('parseImportLine', () => {
  test('a member with the rules of user add: folded username, verified email, groups without duplicates', () => {
    expect(parseImportLine('{"username": " Ann ", "name": "Ann  Lee", "email": "ann@example.com", "groups": ["family", " family", "media"]}', 1))
      .toEqual({ username: 'ann', name: 'Ann Lee', email: 'ann@example.com', emailVerified: true, groups: ['family', 'media'] });
    expect(parseImportLine('{"username": "bob", "name": "Bob"}', 2)).toEqual({ username: 'bob', name: 'Bob', email: null, emailVerified: false, groups: [] });
  });

  test.each([
    ['{"username": "ann"', 'line 3: not JSON'],
    ['["ann"]', 'line 3: expected an object'],
    ['{"username": "ann", "name": "Ann", "password": "x"}', 'line 3: unknown field "password"'],
    ['{"username": "-ann", "name": "Ann"}', 'line 3: Choose a username'],
    ['{"username": "ann", "name": ""}', 'line 3: Enter the name'],
    ['{"username": "ann", "name": "Ann", "groups": "family"}', 'line 3: groups must be a list'],
    ['{"username": "ann", "name": "Ann", "groups": [""]}', 'line 3: groups must be a list'],
  ])('refuses %s', (line, message) => {
    expect(() => parseImportLine(line, 3)).toThrow(expect.objectContaining({ status: 400, message: expect.stringContaining(message) }));
  });
});
