// A push service stand-in on loopback, as RFC 8030 describes one: an HTTPS endpoint per subscription that takes
// a POST with a TTL header, answers 201 with a Location, and 404/410 for a subscription it does not know. It
// checks each request's VAPID token (RFC 8292: ES256 JWT, aud = our origin, exp within 24 h, sub a contact,
// signed by the key in `k`) and decrypts the aes128gcm body (RFC 8188 + RFC 8291) with the keys of the
// subscription the test created, as the browser would. It can also hang, fail or forget, on demand.
import { createECDH, createDecipheriv, createHmac, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:https';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';

/** A browser's side of a subscription: the key pair and auth secret only it knows. */
export interface TestSubscription {
  id: string;
  endpoint: string;
  ecdh: ECDH;
  auth: Buffer;
  /** As PushSubscription.toJSON() gives it, for the page's POST. */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
}

export interface PushMessage {
  subscription: string;
  payload: Record<string, unknown>;
  vapid: { claims: Record<string, unknown>; publicKey: string };
  headers: Record<string, string | string[] | undefined>;
}

export type PushMode = 'accept' | 'hang' | 'fail' | 'gone';

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** RFC 8291 section 3.4 and RFC 8188 section 2: one record, padding delimiter 0x02. */
export function decryptAes128gcm(body: Buffer, ecdh: ECDH, auth: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (idlen !== 65 || ciphertext.length > rs) throw new Error('not a single aes128gcm record with a P-256 key id');
  const uaPublic = ecdh.getPublicKey();
  const ecdhSecret = ecdh.computeSecret(asPublic);
  const prkKey = hmac(auth, ecdhSecret);
  const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (padded[end] !== 2) throw new Error('last record lacks the 0x02 delimiter');
  return padded.subarray(0, end);
}

/** RFC 8292: `Authorization: vapid t=<JWT>, k=<P-256 public key>`; returns the verified claims. */
async function checkVapid(header: string | undefined, origin: string) {
  const m = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+),\s*k=([\w-]+)$/.exec(header ?? '');
  if (!m) throw new Error(`no VAPID authorization: ${header}`);
  const [, token, k] = m as unknown as [string, string, string];
  const raw = Buffer.from(k, 'base64url');
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const key = await importJWK({ kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, 'ES256');
  if (decodeProtectedHeader(token).alg !== 'ES256') throw new Error('VAPID token not ES256');
  const { payload } = await jwtVerify(token, key, { audience: origin, algorithms: ['ES256'] });
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp !== 'number' || payload.exp <= now || payload.exp > now + 86400) throw new Error('VAPID exp must be within 24 hours');
  if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) throw new Error('VAPID sub must be a mailto: or https: contact');
  return { claims: payload as Record<string, unknown>, publicKey: k };
}

export interface PushService {
  origin: string;
  mode: PushMode;
  /** Messages decrypted and checked, in arrival order. */
  messages: PushMessage[];
  /** Requests that arrived (before any answer), in order: the first thing a hang shows. */
  arrivals: string[];
  problems: string[];
  /** Requests held without an answer (mode 'hang') whose sender has not given up. */
  unanswered(): number;
  subscribe(): TestSubscription;
  /** Resolves when `predicate` holds for a received message (checked on each arrival). */
  waitFor(predicate: (m: PushMessage) => boolean, what: string, timeoutMs?: number): Promise<PushMessage>;
  waitForArrivals(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPushService(tls: { key: string; cert: string }): Promise<PushService> {
  const subscriptions = new Map<string, TestSubscription>();
  const hanging = new Set<ServerResponse>();
  const listeners = new Set<() => void>();
  const notify = () => { for (const l of listeners) l(); };
  const waitUntil = <T>(check: () => T | undefined, what: string, timeoutMs: number) => new Promise<T>((resolve, reject) => {
    const done = () => {
      const value = check();
      if (value === undefined) return;
      listeners.delete(done);
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => { listeners.delete(done); reject(new Error(`push service: no ${what} (problems: ${service.problems.join('; ') || 'none'})`)); }, timeoutMs);
    listeners.add(done);
    done();
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const id = /^\/push\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    service.arrivals.push(id ?? req.url ?? '');
    notify();
    const sub = id ? subscriptions.get(id) : undefined;
    if (req.method !== 'POST' || !sub) return res.writeHead(404).end();
    if (service.mode === 'hang') {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
      return;
    }
    if (service.mode === 'fail') return res.writeHead(503).end();
    if (service.mode === 'gone') return res.writeHead(410).end();
    try {
      if (!/^\d+$/.test(String(req.headers.ttl ?? ''))) throw new Error('RFC 8030 needs a TTL header');
      if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${req.headers['content-encoding']}`);
      const vapid = await checkVapid(req.headers.authorization, service.origin);
      const payload = JSON.parse(decryptAes128gcm(Buffer.concat(chunks), sub.ecdh, sub.auth).toString('utf8')) as Record<string, unknown>;
      service.messages.push({ subscription: sub.id, payload, vapid, headers: req.headers });
      res.writeHead(201, { location: `${service.origin}/message/${randomBytes(8).toString('hex')}` }).end();
    } catch (error) {
      service.problems.push((error as Error).message);
      res.writeHead(400).end();
    }
    notify();
  };

  const server: Server = createServer(tls, (req, res) => { void handle(req, res); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const service: PushService = {
    origin: `https://127.0.0.1:${port}`,
    mode: 'accept',
    messages: [],
    arrivals: [],
    problems: [],
    unanswered: () => hanging.size,
    subscribe() {
      const id = randomBytes(9).toString('base64url');
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const endpoint = `${service.origin}/push/${id}`;
      const sub = { id, endpoint, ecdh, auth, json: { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } } };
      subscriptions.set(id, sub);
      return sub;
    },
    waitFor: (predicate, what, timeoutMs = 30_000) => waitUntil(() => service.messages.find(predicate), what, timeoutMs),
    waitForArrivals: (count, timeoutMs = 30_000) => waitUntil(() => (service.arrivals.length >= count ? true : undefined), `${count} requests`, timeoutMs),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return service;
}
