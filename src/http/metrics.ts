// Prometheus metrics: one Registry per server (no global), the counters the sign-in pages and the provider
// feed, the request latency middleware, and the /metrics endpoint (bearer token when one is configured).
// Labels are small fixed sets (route patterns, factors, networks): never a username, path or client id.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import Koa, { type Middleware } from 'koa';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { factors } from '../auth/policy.js';
import { forwardAuthCheckPaths } from './forward-auth.js';

export type SignInResult = 'success' | 'failure' | 'throttled' | 'denied';

export interface SignInOutcome {
  result: SignInResult;
  /** The factor that failed, or the factors of a finished sign-in joined by "+" (`password+totp`). */
  factor: string;
  network: 'home' | 'outside';
}

export interface Metrics {
  registry: Registry;
  signIn(outcome: SignInOutcome): void;
  /** A token endpoint success: its grant type and which tokens the response held. */
  tokensIssued(grantType: string, tokens: string[]): void;
  /** Times every request by route pattern; first in the middleware chain. */
  timeRequests: Middleware;
  /** Times an answer sent before koa (http/app.ts: the engine's endpoints, the forward-auth check) as timeRequests does. */
  timeAnswer(method: string, route: string, res: ServerResponse): void;
}

export interface MetricsDeps {
  /** The issuer's path ('' or e.g. '/id'), stripped from route labels. */
  base: string;
  /** Bytes the database takes (store/dialect.ts databaseSize). */
  databaseSize: () => Promise<number>;
}

// oidc-provider's endpoints and the proxies' forward-auth check are not koa-router routes: name them here (relative to
// the issuer's path).
const providerRoutes = new Set([
  '/auth', '/token', '/me', '/jwks', '/token/revocation', '/token/introspection', '/session/end', '/session/end/confirm',
  '/session/end/success', '/device/auth', '/device', '/device/confirm', '/device/success', '/.well-known/openid-configuration',
  '/metrics', ...forwardAuthCheckPaths.keys(),
]);
const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
// 'webauthn' is a failed WebAuthn step (passkey or key unknown yet); the others are the sign-in factors (auth/policy.ts).
const factorNames = new Set<string>(['none', 'webauthn', ...factors]);

/** The route pattern of a request: the koa-router pattern if one matched, else a known endpoint, else "other". */
function routeOf(base: string, matched: string | undefined, path: string): string {
  const strip = (p: string) => (base && p.startsWith(base) ? p.slice(base.length) || '/' : p);
  if (matched) return strip(matched);
  const relative = strip(path);
  if (providerRoutes.has(relative)) return relative;
  if (relative.startsWith('/auth/')) return '/auth/:uid';
  if (relative.startsWith('/static/')) return '/static/*';
  return 'other';
}

export function createMetrics({ base, databaseSize }: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const signIns = new Counter({
    name: 'accouch_sign_ins_total',
    help: 'Sign-in attempts by result (success, failure, throttled, denied), factor and network (home, outside)',
    labelNames: ['result', 'factor', 'network'] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'accouch_tokens_issued_total',
    help: 'Tokens issued by the token endpoint, by grant type and token (access_token, id_token, refresh_token)',
    labelNames: ['grant_type', 'token'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'accouch_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const failedSizeReads = new Counter({
    name: 'accouch_database_size_errors_total',
    help: 'Scrapes at which the database did not answer the size query',
    registers: [registry],
  });
  new Gauge({
    name: 'accouch_database_size_bytes',
    help: 'Size of the database (SQLite: file plus write-ahead log; PostgreSQL: pg_database_size)',
    registers: [registry],
    async collect() {
      // A database that cannot answer must not take every other metric down with it: the gauge is left as it was.
      try {
        this.set(await databaseSize());
      } catch {
        failedSizeReads.inc();
      }
    },
  });

  return {
    registry,
    signIn({ result, factor, network }) {
      // Only known factor names become label values, whatever a caller passes.
      const known = factor.split('+').map((f) => (factorNames.has(f) ? f : 'other')).join('+');
      signIns.inc({ result, factor: known, network });
    },
    tokensIssued(grantType, issued) {
      for (const token of issued) tokens.inc({ grant_type: grantType, token });
    },
    timeRequests: async (ctx, next) => {
      const stop = latency.startTimer();
      // oidc-provider writes to the raw response itself: measure until the response is sent, not until next().
      ctx.res.once('finish', () => {
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        stop({
          method: methods.has(ctx.method) ? ctx.method : 'other',
          route: routeOf(base, typeof matched === 'string' ? matched : undefined, ctx.path),
          status: String(ctx.res.statusCode),
        });
      });
      await next();
    },
    timeAnswer(method, route, res) {
      const stop = latency.startTimer();
      res.once('finish', () => stop({ method: methods.has(method) ? method : 'other', route: routeOf(base, undefined, route), status: String(res.statusCode) }));
    },
  };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * GET /metrics in the Prometheus text format. With a token, a request without `Authorization: Bearer <token>`
 * gets 401; other paths pass through to the next middleware.
 */
export function metricsEndpoint(metrics: Metrics, token: string | undefined): Middleware {
  const expected = token === undefined ? undefined : digest(token);
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('allow', 'GET, HEAD');
      return;
    }
    ctx.set('cache-control', 'no-store');
    if (expected) {
      const presented = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        ctx.status = 401;
        ctx.set('www-authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', message: 'metrics need the bearer token' };
        return;
      }
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}

/** The metrics listener of its own (metrics.port): /metrics and nothing else. */
export function createMetricsApp(metrics: Metrics, token: string | undefined): Koa {
  const app = new Koa();
  app.use(metricsEndpoint(metrics, token));
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', message: 'only /metrics is served here' };
  });
  return app;
}
