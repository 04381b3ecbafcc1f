// The door to oidc-provider: hands a request to the current provider (under the issuer's path), and keeps its
// discovery and JWKS answers per provider instance, which depend on nothing but that instance (issuer,
// configuration, key set; a key rotation swaps the instance) and the request's protocol and Origin.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type Provider from 'oidc-provider';
import type { Logger } from '../log.js';

/** What the provider answered to a GET of discovery or JWKS, kept to be sent again as it was. */
export interface StoredAnswer {
  status: number;
  statusMessage: string;
  /** The provider's headers in its order and spelling, names and values in turn, Access-Control-Allow-Origin '*'. */
  headers: string[];
  /** Where Access-Control-Allow-Origin's value is in `headers`: the request's Origin goes there. */
  originAt: number;
  body: Buffer;
}

export interface EngineDeps {
  /** The current provider; replaced after a key rotation. */
  provider: () => Provider;
  /** The issuer's path ('' or e.g. '/id'). */
  base: string;
  /** Whether X-Forwarded-Proto is believed (the provider's `proxy`): it decides the scheme of discovery's URLs. */
  trustProxy: boolean;
  /** The issuer's host: the Host every request reaches the provider with (http/app.ts pins it). */
  host: string;
  log: Logger;
}

export interface Engine {
  /** Hands the request to the current provider, which answers it on `res`. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * The provider's stored answer to this GET or HEAD of discovery or JWKS, or undefined: the provider answers
   * it (anything else, a query string, a first request after a key rotation, an unusual X-Forwarded-Proto).
   */
  stored(req: IncomingMessage): StoredAnswer | undefined;
}

type Slot = StoredAnswer | 'pending' | 'refused';

export function createEngine({ provider, base, trustProxy, host, log }: EngineDeps): Engine {
  const callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  const answers = new WeakMap<Provider, Map<string, Slot>>();
  // The same paths for every instance: routes are configuration, which a rotation does not change.
  const paths = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', provider().pathFor('jwks', { mountPath: '' })]
    .map((path) => `${base}${path}`));

  const callbackOf = (current: Provider) => {
    let callback = callbacks.get(current);
    if (!callback) {
      callback = current.callback();
      callbacks.set(current, callback);
    }
    return callback;
  };

  /** As the provider sees the request (mounted under `base`: it builds its URLs from originalUrl). */
  const handOver = (current: Provider, req: IncomingMessage, res: ServerResponse) => {
    if (base) {
      (req as { originalUrl?: string }).originalUrl = req.url;
      req.url = req.url!.slice(base.length) || '/';
    }
    return callbackOf(current)(req, res) as Promise<void>;
  };

  /** One GET through the provider's own stack, in memory: what it answers a client that sends no Origin. */
  const ask = (current: Provider, url: string, protocol: string) => new Promise<Slot>((resolve, reject) => {
    const req = new IncomingMessage(new Socket());
    req.method = 'GET';
    req.url = url;
    req.headers = trustProxy ? { host, 'x-forwarded-proto': protocol } : { host };
    req.push(null);
    const res = new ServerResponse(req);
    res.end = ((chunk?: string | Buffer) => {
      const names = (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames();
      const headers = names.flatMap((name) => [name, String(res.getHeader(name))]);
      const originAt = headers.findIndex((value, i) => i % 2 === 0 && value.toLowerCase() === 'access-control-allow-origin') + 1;
      const varies = headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === 'vary' && headers[i + 1] === 'Origin');
      // Only an answer whose one request-dependent part is the Origin echo is kept (oidc-provider's open CORS).
      const usable = res.statusCode === 200 && originAt > 0 && headers[originAt] === '*' && varies && chunk !== undefined;
      if (!usable) log.warn({ url, status: res.statusCode }, 'the engine\'s answer is not kept: every request goes to the provider');
      resolve(usable ? { status: res.statusCode, statusMessage: res.statusMessage, headers, originAt, body: Buffer.from(chunk) } : 'refused');
      return res;
    }) as typeof res.end;
    handOver(current, req, res).catch(reject);
  });

  return {
    handle: (req, res) => handOver(provider(), req, res),
    stored(req) {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !paths.has(req.url!)) return undefined;
      if ((req.socket as { encrypted?: boolean }).encrypted) return undefined;
      // The scheme as koa works it out (request.protocol): only the two plain ones are kept.
      const forwarded = trustProxy ? req.headers['x-forwarded-proto'] : undefined;
      const protocol = typeof forwarded === 'string' && forwarded ? forwarded.split(',', 1)[0]!.trim().toLowerCase() : 'http';
      if (protocol !== 'http' && protocol !== 'https') return undefined;
      const current = provider();
      let slots = answers.get(current);
      if (!slots) answers.set(current, (slots = new Map()));
      const key = `${protocol} ${req.url}`;
      const slot = slots.get(key);
      if (typeof slot === 'object') return slot;
      if (slot === undefined) {
        slots.set(key, 'pending');
        ask(current, req.url!, protocol).then((answer) => slots.set(key, answer), (error: unknown) => {
          slots.set(key, 'refused');
          log.error({ err: error, url: req.url }, 'the engine could not be asked for its answer: every request goes to it');
        });
      }
      return undefined;
    },
  };
}

/** Sends a stored answer, after the headers already set on `res` (ours: request id, security headers). */
export function sendStoredAnswer(req: IncomingMessage, res: ServerResponse, answer: StoredAnswer): void {
  const headers = answer.headers.slice();
  // koa's ctx.get('Origin') || '*', as oidc-provider's CORS middleware sets it.
  headers[answer.originAt] = req.headers.origin || '*';
  res.writeHead(answer.status, answer.statusMessage, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.body);
}
