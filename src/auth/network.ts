// Where a request comes from: the client address behind trusted proxies (right-most untrusted
// X-Forwarded-For hop) and whether that address is on the home network.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** The two networks a sign-in policy distinguishes. */
export type Network = 'home' | 'outside';

/** Answers for one configuration of `network.trusted` and `network.trustedProxies`. */
export interface NetworkClassifier {
  /**
   * The address of the client. The peer is the client unless it is a trusted proxy; then X-Forwarded-For is
   * walked from the right past trusted proxies and the first untrusted hop is the client. A malformed hop ends
   * the walk at the last good hop. Addresses come back normalized (no port, brackets or zone; IPv4-mapped IPv6
   * as IPv4; IPv6 in lower-case compressed form), except a peer that is not an address at all, which is
   * returned as given.
   */
  clientAddress(peer: string, forwardedFor: string | undefined): string;
  /** `home` when the address is in `network.trusted`; anything unparseable is `outside`. */
  networkOf(address: string): Network;
  /** Whether a peer address is one of `network.trustedProxies` (whose X-Forwarded-* headers are believed). */
  isTrustedProxy(peer: string): boolean;
  /** Both for one HTTP request: its client address (peer and X-Forwarded-For) and that address's network. */
  ofRequest(req: Pick<IncomingMessage, 'socket' | 'headers'>): { ip: string; network: Network };
}

/**
 * Builds a classifier from lists of CIDRs (a bare address means /32 or /128).
 * @throws TypeError when an entry is not an IPv4/IPv6 address or CIDR.
 */
export function createNetworkClassifier(config: { trusted: readonly string[]; trustedProxies: readonly string[] }): NetworkClassifier {
  const home = toBlockList(config.trusted, 'network.trusted');
  const proxies = toBlockList(config.trustedProxies, 'network.trustedProxies');
  const inList = (list: BlockList, address: string) => list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');

  const classifier: NetworkClassifier = {
    isTrustedProxy(peer) {
      const address = normalizeAddress(peer);
      return address !== undefined && inList(proxies, address);
    },
    ofRequest(req) {
      const forwarded = req.headers['x-forwarded-for'];
      const ip = classifier.clientAddress(req.socket.remoteAddress ?? '', Array.isArray(forwarded) ? forwarded.join(',') : forwarded || undefined);
      return { ip, network: classifier.networkOf(ip) };
    },
    clientAddress(peer, forwardedFor) {
      const peerAddress = normalizeAddress(peer);
      if (peerAddress === undefined) return peer;
      if (!inList(proxies, peerAddress) || !forwardedFor) return peerAddress;
      let last = peerAddress;
      const hops = forwardedFor.split(',');
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = parseHop(hops[i]!);
        if (hop === undefined) return last;
        if (!inList(proxies, hop)) return hop;
        last = hop;
      }
      // Every hop is a trusted proxy: the furthest one is as close to the client as we can see.
      return last;
    },
    networkOf(address) {
      const normalized = normalizeAddress(address);
      return normalized !== undefined && inList(home, normalized) ? 'home' : 'outside';
    },
  };
  return classifier;
}

function toBlockList(entries: readonly string[], name: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bitsText, ...rest] = entry.trim().split('/');
    // IPv6 entries stay IPv6, mapped ones included: BlockList matches an IPv4 query against ::ffff:0:0/96.
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const max = family === 'ipv4' ? 32 : 128;
    const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (!family || rest.length || !(bits <= max)) {
      throw new TypeError(`${name}: "${entry}" is not an IPv4 or IPv6 address or CIDR`);
    }
    list.addSubnet(address, bits, family);
  }
  return list;
}

/** One X-Forwarded-For entry: an address, optionally with a port ("1.2.3.4:5678", "[::1]:443"). */
function parseHop(raw: string): string | undefined {
  const hop = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed) return isIPv6(bracketed[1]!) ? normalizeAddress(bracketed[1]!) : undefined;
  const v4WithPort = /^([\d.]+):\d{1,5}$/.exec(hop);
  return normalizeAddress(v4WithPort ? v4WithPort[1]! : hop);
}

/**
 * A bare IPv4 or IPv6 address in one canonical form, or undefined. The zone of a link-local address
 * ("fe80::1%eth0") is dropped; IPv4-mapped IPv6 ("::ffff:192.168.1.5", as dual-stack sockets report
 * IPv4 peers) becomes IPv4 so that it matches IPv4 CIDRs and throttles under one key.
 */
function normalizeAddress(value: string): string | undefined {
  const address = value.trim();
  if (isIPv4(address)) return address;
  const unzoned = address.replace(/%[^%]*$/, '');
  if (!isIPv6(unzoned)) return undefined;
  // The WHATWG URL parser writes IPv6 in the RFC 5952 form (lower case, longest zero run compressed,
  // an embedded IPv4 as two hex groups), so every spelling of one address compares equal.
  const canonical = new URL(`http://[${unzoned}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
