// Token ids in issue order: the configured provider's models make ids that sort by time, bytewise (SQLite) and in an
// English linguistic collation (as a PostgreSQL database often has), and keep all of oidc-provider's randomness.
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { ensureSigningKeys, keyRetention, loadCookieKeys, loadJwks } from '../../../src/oidc/keys.js';
import { createProvider } from '../../../src/oidc/provider.js';
import { timePrefix } from '../../../src/oidc/token-ids.js';
import { openTestDb } from '../helpers.js';

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const linguistic = new Intl.Collator('en-US').compare;

describe('timePrefix', () => {
  test('sorts as the times it was made from, bytewise and linguistically', () => {
    const times = [0, 1, 31, 32, 1023, 1024, Date.UTC(2026, 11, 4), Date.UTC(2026, 11, 4) + 1, Date.UTC(2100, 0, 1), 2 ** 45 - 1];
    const prefixes = times.map((t) => timePrefix(t));
    expect(new Set(prefixes.map((p) => p.length))).toEqual(new Set([9]));
    for (const compare of [bytewise, linguistic]) {
      expect([...prefixes].reverse().sort(compare)).toEqual(prefixes);
    }
    expect(timePrefix(0)).toBe('000000000');
    expect(timePrefix(2 ** 45 - 1)).toBe('vvvvvvvvv');
  });

  test('decides the order of whole ids, whatever random part follows', () => {
    // The random part has both cases, digits, '-' and '_'; a linguistic collation weighs case and punctuation later.
    const earlier = `${timePrefix(1_000_000)}zz_ZZ`;
    const later = `${timePrefix(1_000_001)}--AA-`;
    for (const compare of [bytewise, linguistic]) expect(compare(earlier, later)).toBe(-1);
  });
});

describe('the configured provider', () => {
  test('gives every stored token model time-ordered ids with 256 random bits after the time', async () => {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    const config = loadConfig({ env: {} });
    const provider = createProvider({
      config, db, log: createLogger('silent'), jwks: await loadJwks(db, keyRetention(config.ttl)),
      cookieKeys: await loadCookieKeys(db), render: () => '',
    });
    const models = provider as unknown as Record<string, { prototype: { generateTokenId(): string } }>;
    for (const name of ['AccessToken', 'AuthorizationCode', 'ClientCredentials', 'DeviceCode', 'Grant', 'RefreshToken']) {
      const before = timePrefix();
      const ids = [models[name]!.prototype.generateTokenId.call({ kind: name }), models[name]!.prototype.generateTokenId.call({ kind: name })];
      const after = timePrefix();
      for (const id of ids) {
        expect(id, name).toMatch(/^[0-9a-v]{9}[\w-]{43}$/);
        expect(id.slice(0, 9) >= before && id.slice(0, 9) <= after, name).toBe(true);
      }
      expect(ids[0]!.slice(9), name).not.toBe(ids[1]!.slice(9));
    }
  });
});
