// Client address behind proxies (right-most untrusted X-Forwarded-For hop) and home/outside classification.
import { describe, expect, test } from 'vitest';
import { createNetworkClassifier } from '../../../src/auth/network.js';

const proxy = '10.0.0.2'; // the ingress
const classifier = createNetworkClassifier({
  trusted: ['192.168.1.0/24', 'fd00:1::/64', '127.0.0.1'],
  trustedProxies: [proxy, '10.0.1.0/24', 'fd00:ff::/64'],
});

describe('clientAddress', () => {
  test('without trusted proxies, the peer is the client and X-Forwarded-For is ignored', () => {
    const direct = createNetworkClassifier({ trusted: ['192.168.1.0/24'], trustedProxies: [] });
    expect(direct.clientAddress('203.0.113.9', '192.168.1.5')).toBe('203.0.113.9');
    expect(direct.networkOf(direct.clientAddress('203.0.113.9', '192.168.1.5'))).toBe('outside');
  });

  test('a spoofed X-Forwarded-For from an untrusted peer changes nothing', () => {
    expect(classifier.clientAddress('203.0.113.9', '192.168.1.5')).toBe('203.0.113.9');
    expect(classifier.clientAddress('203.0.113.9', `192.168.1.5, ${proxy}`)).toBe('203.0.113.9');
    expect(classifier.clientAddress('192.168.1.50', '203.0.113.9')).toBe('192.168.1.50');
  });

  test('a trusted proxy: the right-most hop is the client', () => {
    expect(classifier.clientAddress(proxy, '203.0.113.9')).toBe('203.0.113.9');
  });

  test('a trusted proxy without X-Forwarded-For (or an empty one) is itself the client', () => {
    expect(classifier.clientAddress(proxy, undefined)).toBe(proxy);
    expect(classifier.clientAddress(proxy, '')).toBe(proxy);
  });

  test('hops the client wrote itself, left of the untrusted one, are ignored', () => {
    // The client sent "X-Forwarded-For: 192.168.1.5"; the ingress appended the real address.
    expect(classifier.clientAddress(proxy, '192.168.1.5, 203.0.113.9')).toBe('203.0.113.9');
    expect(classifier.clientAddress(proxy, '192.168.1.5,203.0.113.9')).toBe('203.0.113.9');
  });

  test('a chain through two trusted proxies skips both', () => {
    // client → 10.0.1.7 (edge proxy) → 10.0.0.2 (ingress) → us
    expect(classifier.clientAddress(proxy, '198.51.100.4, 10.0.1.7')).toBe('198.51.100.4');
    expect(classifier.clientAddress(proxy, '192.168.1.5, 198.51.100.4, 10.0.1.7')).toBe('198.51.100.4');
  });

  test('when every hop is a trusted proxy, the furthest one is returned', () => {
    expect(classifier.clientAddress(proxy, '10.0.1.8, 10.0.1.7')).toBe('10.0.1.8');
  });

  test('ports and brackets are stripped', () => {
    expect(classifier.clientAddress(proxy, '203.0.113.9:5678')).toBe('203.0.113.9');
    expect(classifier.clientAddress(proxy, '[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(classifier.clientAddress(proxy, '[2001:db8::1]')).toBe('2001:db8::1');
    expect(classifier.clientAddress(proxy, '198.51.100.4, 10.0.1.7:8080')).toBe('198.51.100.4');
  });

  test('IPv6 peers, proxies and hops', () => {
    expect(classifier.clientAddress('fd00:ff::2', '2001:db8::7')).toBe('2001:db8::7');
    expect(classifier.clientAddress('fd00:ff::2', '2001:db8::7, fd00:ff::3')).toBe('2001:db8::7');
    expect(classifier.clientAddress('2001:db8::9', '192.168.1.5')).toBe('2001:db8::9');
    // Every spelling of one address comes back the same (one throttle key per client).
    expect(classifier.clientAddress('fd00:ff::2', '2001:DB8:0:0::7')).toBe('2001:db8::7');
    expect(classifier.clientAddress('2001:0db8:0000::0009', undefined)).toBe('2001:db8::9');
  });

  test('IPv4-mapped IPv6 peers and hops become IPv4', () => {
    expect(classifier.clientAddress('::ffff:10.0.0.2', '203.0.113.9')).toBe('203.0.113.9');
    expect(classifier.clientAddress('::ffff:203.0.113.9', '192.168.1.5')).toBe('203.0.113.9');
    expect(classifier.clientAddress(proxy, '::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(classifier.clientAddress(proxy, '198.51.100.4, [::ffff:10.0.1.7]:80')).toBe('198.51.100.4');
    expect(classifier.clientAddress('0:0:0:0:0:FFFF:C0A8:0105', undefined)).toBe('192.168.1.5');
  });

  test('a malformed hop stops the walk at the last good hop', () => {
    expect(classifier.clientAddress(proxy, 'not-an-ip')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, unknown')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, garbage, 10.0.1.7')).toBe('10.0.1.7');
    expect(classifier.clientAddress(proxy, '192.168.1.5, , 10.0.1.7')).toBe('10.0.1.7');
    expect(classifier.clientAddress(proxy, '192.168.1.5, 300.1.1.1')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, 01.2.3.4')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, 1.2.3.4:http')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, [1.2.3.4]:80')).toBe(proxy);
    expect(classifier.clientAddress(proxy, '192.168.1.5, 2001:db8::1:443x')).toBe(proxy);
  });

  test('a zoned link-local peer loses its zone', () => {
    expect(classifier.clientAddress('fe80::1%eth0', undefined)).toBe('fe80::1');
  });

  test('a peer that is not an address is returned as given, and is outside', () => {
    expect(classifier.clientAddress('', '192.168.1.5')).toBe('');
    expect(classifier.networkOf('')).toBe('outside');
  });
});

describe('networkOf', () => {
  test('IPv4 inside and outside a trusted CIDR', () => {
    expect(classifier.networkOf('192.168.1.5')).toBe('home');
    expect(classifier.networkOf('192.168.1.255')).toBe('home');
    expect(classifier.networkOf('192.168.2.5')).toBe('outside');
    expect(classifier.networkOf('203.0.113.9')).toBe('outside');
  });

  test('a bare address means exactly that address', () => {
    expect(classifier.networkOf('127.0.0.1')).toBe('home');
    expect(classifier.networkOf('127.0.0.2')).toBe('outside');
    const v6 = createNetworkClassifier({ trusted: ['2001:db8::1'], trustedProxies: [] });
    expect(v6.networkOf('2001:db8::1')).toBe('home');
    expect(v6.networkOf('2001:db8::2')).toBe('outside');
  });

  test('IPv6 inside and outside a trusted CIDR, in any spelling', () => {
    expect(classifier.networkOf('fd00:1::abcd')).toBe('home');
    expect(classifier.networkOf('FD00:0001:0000:0000:ffff:ffff:ffff:ffff')).toBe('home');
    expect(classifier.networkOf('fd00:2::1')).toBe('outside');
  });

  test('IPv4-mapped IPv6 matches IPv4 CIDRs', () => {
    expect(classifier.networkOf('::ffff:192.168.1.5')).toBe('home');
    expect(classifier.networkOf('[::ffff:192.168.1.5]')).toBe('outside'); // not a bare address
    expect(classifier.networkOf('::ffff:192.168.2.5')).toBe('outside');
  });

  test('IPv4-mapped CIDRs in the configuration match IPv4 addresses', () => {
    const mapped = createNetworkClassifier({ trusted: ['::ffff:192.168.0.0/112'], trustedProxies: [] });
    expect(mapped.networkOf('192.168.44.1')).toBe('home');
    expect(mapped.networkOf('::ffff:192.168.44.1')).toBe('home');
    expect(mapped.networkOf('192.169.0.1')).toBe('outside');
  });

  test('the trusted-proxy list does not make an address home', () => {
    expect(classifier.networkOf(proxy)).toBe('outside');
  });

  test('anything unparseable is outside', () => {
    for (const junk of ['localhost', '192.168.1', '192.168.1.5:80', '192.168.1.5/24', 'fd00:1::zz']) {
      expect(classifier.networkOf(junk), junk).toBe('outside');
    }
  });

  test('the default home ranges of the configuration', () => {
    const defaults = createNetworkClassifier({
      trusted: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10'],
      trustedProxies: [],
    });
    for (const a of ['127.0.0.1', '::1', '10.20.30.40', '172.31.255.1', '192.168.100.1', 'fd12::1', 'fe80::1%eth0', '::ffff:10.1.1.1']) {
      expect(defaults.networkOf(a), a).toBe('home');
    }
    for (const a of ['172.32.0.1', '8.8.8.8', '2001:4860::8888', '::2', 'fec0::1']) {
      expect(defaults.networkOf(a), a).toBe('outside');
    }
  });
});

describe('createNetworkClassifier', () => {
  test('rejects entries that are not addresses or CIDRs', () => {
    for (const bad of ['home', '192.168.1.0/33', '::/129', '10.0.0.0/8/8', '10.0.0.0/x', '10.0.0.0/']) {
      expect(() => createNetworkClassifier({ trusted: [bad], trustedProxies: [] }), bad).toThrow(TypeError);
    }
    expect(() => createNetworkClassifier({ trusted: [], trustedProxies: ['nope'] })).toThrow(/trustedProxies/);
  });

  test('classifiers are independent (no shared state)', () => {
    const a = createNetworkClassifier({ trusted: ['192.168.1.0/24'], trustedProxies: [] });
    const b = createNetworkClassifier({ trusted: [], trustedProxies: [] });
    expect(a.networkOf('192.168.1.5')).toBe('home');
    expect(b.networkOf('192.168.1.5')).toBe('outside');
  });
});
