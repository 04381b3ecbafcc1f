// Signing keys and cookie keys: generated once, rotated with the old keys kept published for a while.
import { describe, expect, test } from 'vitest';
import { ensureSigningKeys, loadCookieKeys, loadJwks, rotateSigningKeys } from '../../../src/oidc/keys.js';
import { listSigningKeys } from '../../../src/store/keys.js';
import { openTestDb } from '../helpers.js';

const t0 = Date.UTC(2030, 0, 1) / 1000;

describe('ensureSigningKeys', () => {
  test('creates one active RS256, ES256 and EdDSA key, only the first time', async () => {
    const db = await openTestDb();
    expect(await ensureSigningKeys(db)).toBe(true);
    const first = await listSigningKeys(db);
    expect(first.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(first.every((k) => k.state === 'active')).toBe(true);
    expect(await ensureSigningKeys(db)).toBe(false);
    expect((await listSigningKeys(db)).map((k) => k.kid).sort()).toEqual(first.map((k) => k.kid).sort());
  });

  test('each key is a private JWK whose kid, alg and use match', async () => {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    for (const key of await listSigningKeys(db)) {
      expect(key.privateJwk).toMatchObject({ kid: key.kid, alg: key.alg, use: 'sig' });
      expect(key.privateJwk).toHaveProperty('d');
    }
  });
});

describe('rotateSigningKeys and loadJwks', () => {
  async function rotated() {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    const old = await listSigningKeys(db);
    const all = await rotateSigningKeys(db, t0);
    return { db, old, all };
  }

  test('rotation adds three new active keys and keeps the old ones as retired', async () => {
    const { old, all } = await rotated();
    expect(all).toHaveLength(6);
    const oldKids = new Set(old.map((k) => k.kid));
    const retired = all.filter((k) => k.state === 'retired');
    expect(new Set(retired.map((k) => k.kid))).toEqual(oldKids);
    expect(retired.every((k) => k.retiredAt === t0)).toBe(true);
    const active = all.filter((k) => k.state === 'active');
    expect(active.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(active.some((k) => oldKids.has(k.kid))).toBe(false);
  });

  test('the JWKS lists active keys first, so new tokens are signed with the new RS256 key', async () => {
    const { db, all } = await rotated();
    const { keys } = await loadJwks(db, 3600, t0 + 60);
    expect(keys).toHaveLength(6);
    const activeKids = new Set(all.filter((k) => k.state === 'active').map((k) => k.kid));
    expect(keys.slice(0, 3).every((k) => activeKids.has(k.kid as string))).toBe(true);
    const activeRs = all.find((k) => k.state === 'active' && k.alg === 'RS256')!;
    const retiredRs = all.find((k) => k.state === 'retired' && k.alg === 'RS256')!;
    const kids = keys.map((k) => k.kid);
    expect(kids.indexOf(activeRs.kid)).toBeLessThan(kids.indexOf(retiredRs.kid));
    expect(keys.find((k) => k.alg === 'RS256')?.kid).toBe(activeRs.kid);
  });

  test('retired keys stay published through the retention window and are dropped after it', async () => {
    const { db, old } = await rotated();
    const retention = 3600;
    expect((await loadJwks(db, retention, t0 + retention)).keys).toHaveLength(6);
    const after = await loadJwks(db, retention, t0 + retention + 1);
    expect(after.keys).toHaveLength(3);
    expect(after.keys.some((k) => old.some((o) => o.kid === k.kid))).toBe(false);
  });
});

describe('loadCookieKeys', () => {
  test('returns the same keys on every call (sessions survive restarts)', async () => {
    const db = await openTestDb();
    const first = await loadCookieKeys(db);
    expect(first).toHaveLength(1);
    expect(first[0]!.length).toBeGreaterThanOrEqual(32);
    expect(await loadCookieKeys(db)).toEqual(first);
  });

  test('two databases get different keys', async () => {
    expect(await loadCookieKeys(await openTestDb())).not.toEqual(await loadCookieKeys(await openTestDb()));
  });
});
