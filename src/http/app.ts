// The koa application: request ids and logs, security headers, the issuer's host pinned, our routes,
// then oidc-provider (swappable, so a key rotation takes effect without a restart). The engine's endpoints and the
// proxies' forward-auth check are answered before koa, with what its middleware would give them.
import { existsSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { join } from 'node:path';
import Koa from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { Interactions } from '../oidc/interactions.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { RequestWrites } from '../store/sqlite-writer.js';
import { dropHandlerHeaders, errorAnswer, handleErrors, headersNow } from './errors.js';
import { createRequestLog, type AccessLineNotes } from './request-log.js';
import { createEngine, sendStoredAnswer } from './engine.js';
import { endOnceSettled, settleWrites, type UnavailableAnswer } from './settle.js';
import { healthRoutes } from './health.js';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { NetworkClassifier } from '../auth/network.js';
import type { WebauthnSettings } from '../auth/passkey.js';
import type { Strength } from '../auth/policy.js';
import type { SecretBox } from '../auth/secret-key.js';
import { accountClientId } from '../auth/account.js';
import { forwardAuthClientId } from '../auth/forward-auth/apps.js';
import type { UpstreamRegistry } from '../auth/federation/registry.js';
import { createAccountAuth } from './account-auth.js';
import { accountRoutes } from './account/account.js';
import type { AccountAlertSettings } from './account/kit.js';
import type { AdminAlertChannels } from './admin/kit.js';
import { alertRoutes } from './alerts.js';
import { browserContext } from './browser-id.js';
import { createFederation, federationRoutes } from './federation.js';
import { createForwardAuthDirectory } from '../auth/forward-auth/apps.js';
import { createForwardAuth } from '../auth/forward-auth/check.js';
import { createForwardAuthCheck, forwardAuthCheckPaths, forwardAuthRoutes, type Mode as ForwardAuthMode } from './forward-auth.js';
import { adminRoutes } from './admin/admin.js';
import { avatarRoutes } from './avatars.js';
import { createInteractionSteps, interactionRoutes } from './interaction.js';
import { enrolRoutes } from './enrol.js';
import type { Metrics } from './metrics.js';
import { signInStepRoutes } from './sign-in-steps.js';
import { serveStatic } from './static.js';
import { viewsDir, type Render } from './views.js';

export interface AppDeps {
  issuer: string;
  /** The issuer's path ('' or e.g. '/id'): every page and endpoint lives under it, probes at the root. */
  base: string;
  trustProxy: boolean;
  db: Db;
  log: Logger;
  render: Render;
  /** The current provider; replaced after a key rotation. */
  provider: () => Provider;
  /** Reads and finishes sign-in interactions (oidc/interactions.ts): the only door to oidc-provider's interaction API. */
  interactions: Interactions;
  /** Keys for our own signed cookies (the remembered user): the provider's cookie keys. */
  cookieKeys: string[];
  box: SecretBox;
  webauthn: WebauthnSettings;
  classifier: NetworkClassifier;
  globalPolicy: Record<'home' | 'outside', Strength>;
  showUserList: boolean;
  /** Makes a new signing key set active (oidc/keys.ts rotateSigningKeys): the owner console's "Rotate keys". */
  rotateKeys: () => Promise<unknown>;
  /** Upstream identity providers ("Continue with GitHub"). */
  upstreams: UpstreamRegistry;
  /** Prometheus metrics, when enabled (http/metrics.ts, loaded only then: prom-client weighs about 20 MB). */
  metrics?: Metrics | undefined;
  /** `/metrics` on this listener, behind its bearer token (metricsEndpoint), when `metrics.token` is set. */
  metricsRoute?: Koa.Middleware | undefined;
  /** Where the one line per request goes (default: `log`); main gives it a buffered destination. */
  accessLog?: Logger | undefined;
  /** What the provider's events add to a request's access line (main wires the token endpoint's to it). */
  accessLineNotes?: AccessLineNotes | undefined;
  /** Makes each request's writes durable before it answers (store/db.ts requestWritesOf); none: every write waits. */
  writes?: RequestWrites | undefined;
  /** Sign-in alerts: the account page's settings (the alert pages need only db and box). */
  alerts?: AccountAlertSettings | undefined;
  /** Sign-in alert channels for the owner console's Alerts page. */
  alertChannels?: AdminAlertChannels | undefined;
}

// The browser half of WebAuthn, served as a static file (no CDN).
const webauthnBrowser = join(dirname(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser'))), 'dist', 'bundle', 'index.umd.min.js');
// The kubectl credential plugin as one file (`npm run build` bundles it next to dist/src), which the kubeconfigs
// of `accouch kubeconfig` fetch from here and check against its sha256.
const kubectlPlugin = [join(import.meta.dirname, '..', '..', 'kubectl-credential.mjs'), join(import.meta.dirname, '..', '..', 'dist', 'kubectl-credential.mjs')].find((path) => existsSync(path));

const csp = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'none'", "frame-ancestors 'none'",
].join('; ');

/** On every answer, koa's and the stored ones alike. */
const securityHeaders = [
  ['content-security-policy', csp], ['x-content-type-options', 'nosniff'], ['referrer-policy', 'no-referrer'], ['x-frame-options', 'DENY'],
] as const;

const setSecurityHeaders = (res: ServerResponse) => {
  for (const [name, value] of securityHeaders) res.setHeader(name, value);
};

/** A request target's path, as koa's ctx.path has it for the origin-form targets clients send. */
const pathOf = (url: string) => {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
};

export function createApp(deps: AppDeps): Koa {
  const { issuer, base, trustProxy, db, log, render, provider, classifier } = deps;
  const issuerUrl = new URL(issuer);
  const httpLog = log.child({ mod: 'http' });
  const accessLog = deps.accessLog ? deps.accessLog.child({ mod: 'http' }) : httpLog;
  const requestLog = createRequestLog(httpLog, accessLog, deps.accessLineNotes);
  const engine = createEngine({ provider, base, trustProxy, host: issuerUrl.host, log: httpLog });
  const { metrics, writes } = deps;
  const forwardAuth = createForwardAuth({ db, directory: createForwardAuthDirectory(db), issuer, cookieKeys: deps.cookieKeys, globalPolicy: deps.globalPolicy });

  /**
   * The issuer decides the host: a forged Host or X-Forwarded-Host never reaches URLs we build. Returns the
   * X-Forwarded-Host that came, which forward-auth reads the app's host from (only from a trusted proxy).
   */
  const pinHost = (req: IncomingMessage) => {
    const forwarded = req.headers['x-forwarded-host'];
    req.headers.host = issuerUrl.host;
    delete req.headers['x-forwarded-host'];
    return forwarded;
  };

  const unavailable: UnavailableAnswer = (accepts, message) => accepts === 'json'
    ? { type: 'application/json', body: JSON.stringify({ error: 'unavailable', message }) }
    : { type: 'text/html; charset=utf-8', body: render('error', { title: 'Cannot save right now', description: message }) };

  // The endpoints apps and resource servers call (tokens, userinfo, introspection, keys, discovery) are the
  // engine's alone: they skip koa (the pages' routing, the browser cookie, a second request context).
  const enginePaths = new Set([
    '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server',
    ...(['jwks', 'token', 'userinfo', 'introspection', 'revocation', 'device_authorization'] as const).map((name) => provider().pathFor(name, { mountPath: '' })),
  ].map((path) => `${base}${path}`));

  /**
   * What every answer sent before koa gets, as koa's middleware gives its own: timing, request id and access line,
   * security headers. `path`: as it came, for the access line; `route`: the endpoint's own path, for the metrics.
   */
  const beginOutsideKoa = (req: IncomingMessage, res: ServerResponse, path: string, route = path) => {
    metrics?.timeAnswer(req.method!, route, res);
    const reqId = requestLog.begin(req, res, path);
    setSecurityHeaders(res);
    return reqId;
  };

  /**
   * A request answered before koa: what koa's middleware would do for it (beginOutsideKoa, the host pinned, one
   * settle), then `handle`, which gets the X-Forwarded-Host that came. An error it throws is answered by `failed`,
   * without the headers `handle` had set (dropHandlerHeaders); `accepts`: the form of the 503 when a write could not
   * be saved.
   */
  const outsideKoa = (
    req: IncomingMessage, res: ServerResponse, path: string, route: string, accepts: () => 'html' | 'json',
    handle: (forwardedHost: string | string[] | undefined) => Promise<void>,
    failed: (error: unknown, log: Logger) => { status: number; type: string; body: string },
  ): Promise<void> => {
    const reqId = beginOutsideKoa(req, res, path, route);
    const forwardedHost = pinHost(req);
    const before = headersNow(res);
    const logOf = () => httpLog.child({ reqId });
    const answered = writes
      ? writes.run(() => {
        endOnceSettled(res, writes, unavailable, accepts, logOf, before);
        return handle(forwardedHost);
      })
      : (async () => handle(forwardedHost))();
    return answered.catch((error: unknown) => {
      const log = logOf();
      try {
        const { status, type, body } = failed(error, log);
        if (res.headersSent) return void res.destroy();
        dropHandlerHeaders(res, before);
        res.statusCode = status;
        res.setHeader('content-type', type);
        res.setHeader('cache-control', 'no-store');
        res.end(body);
      } catch (again) {
        // As koa's own last resort: nothing more to say than cutting the answer short.
        log.error({ err: again }, 'the error answer failed');
        res.destroy();
      }
    });
  };

  /** An engine endpoint's request: the provider answers its own errors; anything else is ours, in OAuth's form. */
  const viaEngine = (req: IncomingMessage, res: ServerResponse, path: string) => outsideKoa(req, res, path, path, () => 'json', () => engine.handle(req, res), (error, log) => {
    log.error({ err: error }, 'the engine could not answer');
    return { status: 500, type: 'application/json', body: JSON.stringify({ error: 'server_error', error_description: 'the server could not answer this request' }) };
  });

  // A proxy's forward-auth check, on the path of every request to a protected app (http/forward-auth.ts), found as
  // koa's router found it (any case, a trailing slash, an absolute-form target). Its errors get the error
  // middleware's answer, in the form the client accepts (koa's negotiation, on a context made only then).
  const forwardAuthCheck = createForwardAuthCheck({ forwardAuth, classifier, render, issuer });
  const forwardAuthChecks = new Map([...forwardAuthCheckPaths].map(([path, mode]) => [`${base}${path}`.toLowerCase(), { route: `${base}${path}`, mode }]));
  /** The check a request target names, if any; `originPath`: its path as the callback cut it already (pathOf). */
  const forwardAuthCheckOf = (url: string, originPath: string) => {
    const path = url.startsWith('/') ? originPath : URL.parse(url)?.pathname;
    const check = path === undefined ? undefined : forwardAuthChecks.get(path.toLowerCase().replace(/(?<=.)\/$/, ''));
    return check && { path: path!, ...check };
  };
  const viaForwardAuthCheck = (req: IncomingMessage, res: ServerResponse, { path, route, mode }: { path: string; route: string; mode: ForwardAuthMode }): Promise<void> => {
    const accepts = (): 'html' | 'json' => (app.createContext(req, res).accepts('html', 'json') === 'json' ? 'json' : 'html');
    return outsideKoa(req, res, path, route, accepts, (forwardedHost) => forwardAuthCheck(req, res, mode, forwardedHost), (error, log) => errorAnswer(error, accepts(), render, log));
  };

  // Before koa: discovery and JWKS from memory once the current provider has answered them (the same bytes,
  // http/engine.ts, with the same request id, access line, security headers and timing as any answer), the engine's
  // other endpoints straight to the provider, and the proxies' forward-auth check to its handler. The rest is koa's.
  const app: Koa = new (class extends Koa {
    override callback() {
      const viaKoa = super.callback();
      return (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
        // Our listener is HTTP/1 (http/listener.ts).
        if (!(req instanceof IncomingMessage) || !(res instanceof ServerResponse)) return viaKoa(req, res);
        const answer = engine.stored(req);
        if (!answer) {
          const path = pathOf(req.url!);
          if (enginePaths.has(path)) return viaEngine(req, res, path);
          const check = forwardAuthCheckOf(req.url!, path);
          return check ? viaForwardAuthCheck(req, res, check) : viaKoa(req, res);
        }
        beginOutsideKoa(req, res, req.url!);
        sendStoredAnswer(req, res, answer);
        return Promise.resolve();
      };
    }
  })({ proxy: trustProxy });
  app.keys = deps.cookieKeys;

  if (metrics) app.use(metrics.timeRequests);
  app.use(requestLog.middleware);
  // Before the settle, so that a 503 for a write the disk refused carries them too (http/settle.ts).
  app.use((ctx, next) => {
    pinHost(ctx.req);
    setSecurityHeaders(ctx.res);
    return next();
  });
  app.use(handleErrors(render));

  // One commit per request at most: writes are acknowledged as executed and on disk before the answer leaves.
  if (writes) app.use(settleWrites(writes, unavailable));

  const toProvider: Koa.Middleware = async (ctx) => {
    if (base && ctx.path !== base && !ctx.path.startsWith(`${base}/`)) ctx.throw(404, 'not found');
    ctx.respond = false;
    await engine.handle(ctx.req, ctx.res);
  };

  const networkOf = (ctx: Koa.Context) => classifier.ofRequest(ctx.req);
  const steps = createInteractionSteps({
    interactions: deps.interactions, db, render, log, settings: { showUserList: deps.showUserList, networkOf, upstreams: () => deps.upstreams.list() },
    countSignIn: deps.metrics ? (outcome) => deps.metrics!.signIn(outcome) : undefined,
  });
  const accountAuth = createAccountAuth({ db, render, issuer, base, clientId: accountClientId, classifier, globalPolicy: deps.globalPolicy });
  const federation = createFederation({ issuer, base, db, render, steps, upstreams: deps.upstreams, accountAuth });
  const routers = [
    interactionRoutes(steps), signInStepRoutes({ steps, db, box: deps.box, webauthn: deps.webauthn }), federationRoutes(federation), avatarRoutes(db),
    accountRoutes({ ...deps, federation, accountAuth }),
    adminRoutes({ ...deps, accountAuth }), enrolRoutes({ db, box: deps.box, render, webauthn: deps.webauthn, base, issuer, classifier }),
    alertRoutes({ db, box: deps.box, render, base, classifier }),
    forwardAuthRoutes({ forwardAuth, classifier, render, issuer, base, clientId: forwardAuthClientId }),
  ];
  if (base) for (const router of routers) router.prefix(base);

  const pages = compose<Koa.ParameterizedContext<any, any>>([
    // Probes stay at the root whatever the issuer's path, where kubelet looks for them.
    healthRoutes(db, deps.writes && (() => deps.writes!.writable())).routes(),
    // On the public listener only behind the bearer token; without one, /metrics is on its own port or off.
    ...(deps.metricsRoute ? [deps.metricsRoute] : []),
    serveStatic(join(viewsDir, 'static'), `${base}/static`, { 'webauthn-browser.js': webauthnBrowser, ...(kubectlPlugin ? { 'kubectl-credential.mjs': kubectlPlugin } : {}) }),
    // Events recorded while answering a request name its browser (a sign-in alert tells a new browser apart). The
    // proxies' forward-auth checks never come here (a cookie set there would reach the app's host through the proxy).
    browserContext(),
    ...routers.flatMap((router) => [router.routes(), router.allowedMethods()]),
    toProvider,
  ]);
  // An engine path that reached koa (an absolute-form request target) still goes to the engine alone.
  app.use((ctx, next) => (enginePaths.has(ctx.path) ? toProvider(ctx, next) : pages(ctx, next)));

  return app;
}
