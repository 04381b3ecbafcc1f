import { describe, expect, test } from 'vitest';
import { cookieValues, inScope, setCookieHeader, sharedCookieDomain, signCookie, verifyCookie } from '../../../../src/auth/forward-auth/cookie.js';

const keys = ['key-one-0123456789abcdef', 'key-two-0123456789abcdef'];
const now = 1_800_000_000;

describe('the forward-auth cookie', () => {
  test('verifies under any current key, for the host or domain it was set for, until it expires', () => {
    const hostOnly = signCookie({ sessionUid: 'uid1', scope: { host: 'jellyfin.example.net' }, expiresAt: now + 60 }, keys);
    expect(verifyCookie(hostOnly, keys, 'jellyfin.example.net', now)?.sessionUid).toBe('uid1');
    expect(verifyCookie(hostOnly, [keys[1]!, keys[0]!], 'jellyfin.example.net', now)?.sessionUid).toBe('uid1'); // rotated keys
    expect(verifyCookie(hostOnly, keys, 'other.example.net', now)).toBeUndefined();
    expect(verifyCookie(hostOnly, keys, 'jellyfin.example.net', now + 60)).toBeUndefined();
    expect(verifyCookie(hostOnly, ['another-key-0123456789abc'], 'jellyfin.example.net', now)).toBeUndefined();

    const shared = signCookie({ sessionUid: 'uid2', scope: { domain: 'home.example' }, expiresAt: now + 60 }, keys);
    expect(verifyCookie(shared, keys, 'photos.home.example:8443', now)?.sessionUid).toBe('uid2');
    expect(verifyCookie(shared, keys, 'home.example', now)?.sessionUid).toBe('uid2');
    expect(verifyCookie(shared, keys, 'evilhome.example', now)).toBeUndefined();
    expect(verifyCookie(shared, keys, 'home.example.evil.net', now)).toBeUndefined();
  });

  test('refuses a tampered, truncated or oversized value', () => {
    const value = signCookie({ sessionUid: 'uid1', scope: { host: 'a.example' }, expiresAt: now + 60 }, keys);
    const [data, mac] = value.split('.');
    const forged = Buffer.from(JSON.stringify(['uid-of-someone-else', 'h:a.example', now + 60])).toString('base64url');
    for (const bad of [`${forged}.${mac}`, data!, `${data}.`, `.${mac}`, `${data}.${mac}x`, 'x'.repeat(5000), '']) {
      expect(verifyCookie(bad, keys, 'a.example', now), bad.slice(0, 40)).toBeUndefined();
    }
  });

  test('is shared only on a registrable domain: never a public suffix, an IP address or localhost', async () => {
    expect(await sharedCookieDomain('id.home.example')).toBe('home.example');
    expect(await sharedCookieDomain('id.home.example:8443')).toBe('home.example');
    expect(await sharedCookieDomain('auth.family.co.uk')).toBe('family.co.uk');
    // The private section of the Public Suffix List: dynamic-DNS names are separate sites.
    expect(await sharedCookieDomain('id.myhome.duckdns.org')).toBe('myhome.duckdns.org');
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1', '192.168.1.10:8080', '[::1]:8080', 'co.uk', 'duckdns.org', 'github.io']) {
      expect(await sharedCookieDomain(host), host).toBeUndefined();
    }
  });

  test('scopes by host name and port for host-only cookies, by name for domain ones', () => {
    expect(inScope({ host: 'app.example:8443' }, 'APP.example:8443')).toBe(true);
    expect(inScope({ host: 'app.example:8443' }, 'app.example')).toBe(false);
    expect(inScope({ domain: 'home.example' }, 'a.b.home.example')).toBe(true);
  });

  test('reads every value of the cookie from a Cookie header and writes Set-Cookie with its attributes', () => {
    expect(cookieValues('a=1; accouch_fa=x.y; b=2; accouch_fa=z.w', 'accouch_fa')).toEqual(['x.y', 'z.w']);
    expect(cookieValues(undefined, 'accouch_fa')).toEqual([]);
    expect(cookieValues(`accouch_fa=${'a'.repeat(20_000)}`, 'accouch_fa')).toEqual([]);
    expect(setCookieHeader('v', { domain: 'home.example', secure: true, maxAge: 90.7 }))
      .toBe('accouch_fa=v; Path=/; Max-Age=90; HttpOnly; SameSite=Lax; Domain=home.example; Secure');
  });
});
