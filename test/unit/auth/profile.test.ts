// The one profile schema (setup, invitations, the account page, `accouch user add`) and a new passkey's first name.
import { describe, expect, test } from 'vitest';
import { deviceName } from '../../../src/auth/device-name.js';
import { parseProfile } from '../../../src/auth/profile.js';
import { tinyPng } from '../../e2e/support/png.js';

describe('parseProfile', () => {
  test('trims, folds spaces and case, and an empty email is none', () => {
    expect(parseProfile({ name: '  Ada   Lovelace ', username: ' Ada ', email: ' ' })).toEqual({ name: 'Ada Lovelace', username: 'ada', email: null, picture: undefined });
  });

  test.each([
    [{ name: '', username: 'ada' }, 'Enter the name to show'],
    [{ name: 'x'.repeat(81), username: 'ada' }, 'at most 80 characters'],
    [{ name: 'Ada', username: '-ada' }, 'Choose a username'],
    [{ name: 'Ada', username: 'a'.repeat(65) }, 'Choose a username'],
    [{ name: 'Ada', username: 'ada', email: 'ada@localhost' }, 'email address does not look right'],
    [{ name: 'Ada', username: 'ada', email: `${'a'.repeat(250)}@x.io` }, 'email address does not look right'],
    [{ name: 'Ada', username: 'ada', picture: Buffer.from('not an image') }, 'PNG, JPEG, GIF or WebP'],
  ])('refuses %j', (input, message) => {
    expect(() => parseProfile(input)).toThrow(message);
  });

  test('names every problem at once, and parses only the fields asked for', () => {
    expect(() => parseProfile({ name: '', username: '!', email: 'no' })).toThrow(/name to show.*username.*email/);
    expect(parseProfile({ name: 'Ada', email: 'ada@home.example' }, ['name', 'email'])).toEqual({ name: 'Ada', email: 'ada@home.example' });
    expect(parseProfile({ name: 'Ada', username: 'ada', picture: tinyPng([1, 2, 3]) }).picture?.type).toBe('image/png');
    expect(parseProfile({ name: '😀'.repeat(80), username: 'ada' }).name).toHaveLength(160); // characters, not UTF-16 units
  });
});

describe('deviceName', () => {
  test.each([
    ['fbfc3007-154e-4ecc-8c0b-6e020557d7bd', '', 'iCloud Keychain'],
    ['EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4', '', 'Google Password Manager'],
    ['00000000-0000-0000-0000-000000000000', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36', 'Chrome on Linux'],
    [undefined, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1', 'Safari on iPhone'],
    [undefined, 'Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Mobile Safari/537.36', 'Chrome on Android'],
    [undefined, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0', 'Firefox on Windows'],
    [undefined, undefined, 'Passkey'],
  ])('%s, %s → %s', (aaguid, ua, name) => {
    expect(deviceName(aaguid, ua)).toBe(name);
  });
});
