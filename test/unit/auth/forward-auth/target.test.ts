import { describe, expect, test } from 'vitest';
import { parseReturnUrl, targetFromForwarded, targetFromOriginal } from '../../../../src/auth/forward-auth/target.js';
import { AppError } from '../../../../src/errors.js';

describe('the request a proxy asks about', () => {
  test('is rebuilt from Traefik\'s and Caddy\'s X-Forwarded-* headers', () => {
    const target = targetFromForwarded({ proto: 'https', host: 'Jellyfin.home.example', uri: '/web/index.html?x=1', method: 'post' });
    expect(target.url.href).toBe('https://jellyfin.home.example/web/index.html?x=1');
    expect(target.method).toBe('POST');
    // Several proxies: the first value is the one the client-facing proxy wrote.
    expect(targetFromForwarded({ proto: 'https, http', host: 'a.example, b.example', uri: '/' }).url.href).toBe('https://a.example/');
  });

  test('is rebuilt from nginx\'s X-Original-URL', () => {
    expect(targetFromOriginal({ url: 'http://127.0.0.1:8080/a?b', method: 'GET' }).url.href).toBe('http://127.0.0.1:8080/a?b');
  });

  test.each([
    ['missing host', { proto: 'https', uri: '/' }],
    ['missing uri', { proto: 'https', host: 'a.example' }],
    ['protocol-relative uri', { proto: 'https', host: 'a.example', uri: '//evil.example/' }],
    ['backslash uri', { proto: 'https', host: 'a.example', uri: '/\\evil.example' }],
    ['absolute uri', { proto: 'https', host: 'a.example', uri: 'https://evil.example/' }],
    ['host with path', { proto: 'https', host: 'evil.example/x', uri: '/' }],
    ['host with userinfo', { proto: 'https', host: 'user@a.example', uri: '/' }],
    ['odd scheme', { proto: 'javascript', host: 'a.example', uri: '/' }],
    ['odd method', { proto: 'https', host: 'a.example', uri: '/', method: 'GET /x' }],
    ['10 kB uri', { proto: 'https', host: 'a.example', uri: `/${'a'.repeat(10_000)}` }],
  ])('refuses %s with a 400', (_name, headers) => {
    expect(() => targetFromForwarded(headers)).toThrow(AppError);
    try { targetFromForwarded(headers); } catch (error) { expect((error as AppError).status).toBe(400); }
  });

  test.each([undefined, '', '/relative', 'ftp://a.example/', 'http://user:pw@a.example/', 'https://a.example/#frag'])('refuses X-Original-URL %s', (url) => {
    expect(() => targetFromOriginal({ url })).toThrow(AppError);
  });

  test('takes only plain http(s) return URLs', () => {
    expect(parseReturnUrl('https://a.example/x?y=1')?.href).toBe('https://a.example/x?y=1');
    for (const bad of [undefined, ['https://a.example/'], '//evil.example/', 'javascript:alert(1)', 'https://u:p@a.example/', `https://a.example/${'x'.repeat(5000)}`]) {
      expect(parseReturnUrl(bad), String(bad).slice(0, 40)).toBeUndefined();
    }
  });
});
