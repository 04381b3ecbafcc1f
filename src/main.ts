#!/usr/bin/env node
// Entry point. serve: loadConfig → openDatabase → migrate → keys → clients → createProvider → createApp → listen.
// SIGTERM drains in-flight requests, then closes the database.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { constants as moduleConstants, enableCompileCache } from 'node:module';
import { join } from 'node:path';
import { createServer, type RequestListener, type Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type Provider from 'oidc-provider';
import { createCli, runCli } from './cli/index.js';
import { accountClientId, clientSchema, forwardAuthClientId, issuerPath, loadConfig, type Config } from './config.js';
import { reconcileConfigForwardAuthApps } from './auth/forward-auth/apps.js';
import { createAccessLogger, createLogger, type Logger } from './log.js';
import { createAccessLineNotes } from './http/request-log.js';
import type { TokensIssued } from './oidc/provider.js';
import { createNetworkClassifier } from './auth/network.js';
import { purgeThrottles } from './auth/throttle.js';
import { createSecretBox, loadSecretKey } from './auth/secret-key.js';
import { issueEnrolLink, setupNeeded } from './auth/enrol.js';
import { declaredClients } from './integrations/presets.js';
import { ensureSigningKeys, keyRetention, loadCookieKeys, loadJwks, rotateSigningKeys } from './oidc/keys.js';
import { deleteConfigClientsExcept, upsertConfigClient } from './store/clients.js';
import { databaseFile, describeDatabase, openDatabase, requestWritesOf, type Db } from './store/db.js';
import { checkSqliteFile } from './store/sqlite-file.js';
import { keysVersion } from './store/keys.js';
import { migrateToLatest } from './store/migrate.js';
import { purgeExpiredPayloads } from './store/oidc-payloads.js';
import { purgeChallenges } from './store/credentials.js';
import { deleteExpiredLinkTokens } from './store/factors.js';
import { deleteExpiredFederationStates, listLinkedUpstreamIds } from './store/federation.js';
import { createUpstreamRegistry } from './auth/federation/registry.js';
import { purgeSignIns } from './store/sign-ins.js';
import { databaseSize } from './store/dialect.js';
import { ensureSecret } from './store/keys.js';
import { createAlertWorker } from './auth/alerts/sender.js';
import type { VapidKeys } from './integrations/alert-channels.js';

const version = JSON.parse(readFileSync(new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url), 'utf8')).version as string;

/** Accouch's own pages (account, setup) sign in through this first-party client. */
const accountClient = (config: Config) => clientSchema.parse({
  id: accountClientId,
  name: 'Accouch account',
  public: true,
  redirectUris: [`${config.issuer.replace(/\/$/, '')}/account/callback`],
  postLogoutRedirectUris: [`${config.issuer.replace(/\/$/, '')}/account`],
  refresh: 'never',
  skipConsent: true,
});

/** Browsers sign in for forward-auth apps through this first-party client (src/http/forward-auth.ts). */
const forwardAuthClient = (config: Config) => clientSchema.parse({
  id: forwardAuthClientId,
  name: 'Apps behind your proxy',
  public: true,
  redirectUris: [`${config.issuer.replace(/\/$/, '')}/forward-auth/callback`],
  refresh: 'never',
  skipConsent: true,
});

/**
 * Writes configuration-declared clients (and our own) to the store, presets expanded, and drops the ones no longer
 * declared.
 */
async function reconcileClients(db: Db, config: Config, log: Logger): Promise<void> {
  const declared = [accountClient(config), forwardAuthClient(config), ...declaredClients(config.clients)];
  for (const client of declared) {
    await upsertConfigClient(db, client);
  }
  const removed = await deleteConfigClientsExcept(db, declared.map((c) => c.id));
  if (removed.length) log.info({ removed }, 'removed clients no longer in the configuration');
  const removedApps = await reconcileConfigForwardAuthApps(db, config.forwardAuth);
  if (removedApps.length) log.info({ removed: removedApps }, 'removed forward-auth apps no longer in the configuration');
}

/** Starts the metrics listener of its own (metrics.port, on metrics.host: 127.0.0.1 unless configured). */
async function listenForMetrics(handler: RequestListener, port: number, host: string, log: Logger): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => server.listen({ port, host }, resolve).once('error', reject));
  const address = server.address();
  log.info({ host, port: typeof address === 'object' && address ? address.port : port }, 'metrics listening');
  return server;
}

/**
 * Under load most of what a request allocates dies young, but the part in flight across a scavenge is promoted,
 * and V8's default growth factor (up to 4× the live heap after each full collection) let the old generation reach
 * ~65 MB around ~20 MB of live objects: peak RSS 2.15× idle under a token load; a fixed 1.5× keeps it at ~1.8× idle.
 * Looser trades memory for CPU: under a userinfo load a full collection came every ~1,800 requests at 1.5×, every
 * ~5,000 at 2×, and interleaved runs measured 10% (userinfo) and 4% (client_credentials) less CPU per request at
 * 1.75×, but the full bench then put the token load's peak at 1.95× idle, at the edge of its 2× budget. Read by V8
 * at each full collection, so it applies when set at run time, once started; an operator's own
 * --heap-growing-percent (command line or NODE_OPTIONS) is left alone.
 */
function boundHeapGrowth(): void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) => /^--heap[-_]growing[-_]percent\b/.test(flag));
  if (!given) setFlagsFromString('--heap-growing-percent=50');
}

/**
 * Once the server is up: one full garbage collection that also shrinks the young generation, which the start's burst
 * of allocation (compiling the modules, migrating, building the provider) grew to its maximum. V8 shrinks it only
 * under memory pressure, so an idle server would keep ~20 MB it never uses again. One pause of some tens of ms, once.
 */
function releaseStartMemory(log: Logger): void {
  // Node has no API for this collection: V8's gc extension, taken from a throwaway context and switched off again.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
  setFlagsFromString('--no-expose-gc');
  const started = performance.now();
  // 'last-resort': V8's collection for memory pressure, the one that also releases the young generation's spare pages.
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  log.debug({ ms: Math.round(performance.now() - started), rss: process.memoryUsage.rss() }, 'released the start\'s memory');
}

/**
 * Node's compile cache for the server's modules, kept in the data directory (ours alone: mode 0700, where no other
 * user can plant compiled code): a start after the first compiles only what changed, about 25 ms of a ~300 ms
 * start to ready here. Written when the process exits; without it (a read-only or missing data dir) a start
 * just compiles everything, as before.
 */
function useCompileCache(dataDir: string, log: Logger): void {
  if (!existsSync(dataDir)) return;
  const directory = join(dataDir, 'compile-cache');
  try {
    // Made here: Node's own attempt can loop on some file systems where the directory cannot be made.
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  } catch {
    return;
  }
  const result = enableCompileCache(directory);
  if (result.status === moduleConstants.compileCacheStatus.FAILED) log.debug({ reason: result.message }, 'no compile cache');
}

async function serve(): Promise<void> {
  const config = loadConfig({ env: process.env });
  const log = createLogger(config.logLevel);
  if (!config.databaseUrl) checkSqliteFile(databaseFile(config.dataDir));
  // Opened first: SQLite's writer thread starts up on the other core while this one loads the server's modules.
  const db = openDatabase(config, { onPoolError: (error) => log.warn({ err: error }, 'an idle database connection failed; the next query opens a new one') });
  useCompileCache(config.dataDir, log);
  // Loaded here so CLI commands start fast without the server's dependencies.
  const [{ createApp }, { createRenderer }, { createProvider }, { createInteractions }, { createListener }, { createAlertChannels, createMailer, generateVapidKeys, sendTestEmail }] = await Promise.all([
    import('./http/app.js'), import('./http/views.js'), import('./oidc/provider.js'), import('./oidc/interactions.js'), import('./http/listener.js'), import('./integrations/alert-channels.js'),
  ]);
  const applied = await migrateToLatest(db);
  if (applied.length) log.info({ applied }, 'database migrated');
  if (await ensureSigningKeys(db)) log.info({ event: 'keys.generated' }, 'generated signing keys (RS256, ES256, EdDSA)');
  await reconcileClients(db, config, log);

  const base = issuerPath(config.issuer);
  const render = createRenderer(base);
  const retention = keyRetention(config.ttl);
  const box = createSecretBox(loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir }));
  const classifier = createNetworkClassifier(config.network);
  if (config.trustProxy && !config.network.trustedProxies.length) {
    // Every request then comes from the proxy, whose private address counts as home: policies for
    // "outside" never apply, and the whole household shares one throttle.
    log.warn({ event: 'config.warning' }, 'trustProxy is on but network.trustedProxies is empty: list the proxy\'s address so sign-ins from outside are recognised');
  }
  const cookieKeys = await loadCookieKeys(db);
  const issuerUrl = new URL(config.issuer);
  const webauthn = { rpId: config.webauthn.rpId ?? issuerUrl.hostname, rpName: config.webauthn.rpName, origins: [issuerUrl.origin] };
  const metricsOn = config.metrics.port !== undefined || config.metrics.token !== undefined;
  // prom-client costs about 20 MB of memory: loaded only when metrics are configured.
  const metricsModule = metricsOn ? await import('./http/metrics.js') : undefined;
  const metrics = metricsModule?.createMetrics({ base, databaseSize: () => databaseSize(db) });
  // Which client got tokens, by which grant, goes on the token request's access line: one line per request.
  const accessLineNotes = createAccessLineNotes();
  const onTokensIssued = ({ res, client, grantType, tokens }: TokensIssued) => {
    accessLineNotes.add(res, { event: 'token.issued', client, grant_type: grantType });
    metrics?.tokensIssued(grantType, tokens);
  };
  const build = async () => createProvider({
    config, db, log, render, classifier, jwks: await loadJwks(db, retention), cookieKeys, onTokensIssued,
  });
  let provider: Provider = await build();
  let version = await keysVersion(db);

  const upstreams = createUpstreamRegistry({
    db, box, declared: config.upstreams,
    onUnusable: (upstream, err) => log.error({ event: 'upstream.unusable', upstream, err }, 'a sign-in service from the owner console cannot be used; remove and add it again'),
  });
  // Links to an upstream taken out of the YAML file stay (it may come back), but nobody can use them meanwhile.
  const known = new Set((await upstreams.list()).map((u) => u.id));
  const orphaned = (await listLinkedUpstreamIds(db)).filter((id) => !known.has(id));
  if (orphaned.length) log.warn({ event: 'config.warning', upstreams: orphaned }, 'accounts are linked to sign-in services that are no longer configured');
  // Sign-in alerts: VAPID keys made at first start and kept in the database like the signing keys.
  const vapid = JSON.parse(await ensureSecret(db, 'vapid', JSON.stringify(generateVapidKeys()))) as VapidKeys;
  const mailer = await createMailer({ issuer: config.issuer, notify: config.notify, smtp: config.smtp, vapid });
  const alertWorker = createAlertWorker({
    db, log: log.child({ mod: 'alerts' }), box, issuer: config.issuer, notify: config.notify, emailEnabled: Boolean(mailer), accountClientId,
    channels: createAlertChannels({ issuer: config.issuer, notify: config.notify, smtp: config.smtp, vapid }, mailer),
  });
  const interactions = createInteractions({ provider: () => provider, db, classifier, globalPolicy: config.policy });
  const app = createApp({
    issuer: config.issuer, base, trustProxy: config.trustProxy, db, log, render, provider: () => provider, interactions, cookieKeys, box, webauthn, classifier,
    globalPolicy: config.policy, showUserList: config.login.showUserList, rotateKeys: () => rotateSigningKeys(db), upstreams,
    metrics, writes: requestWritesOf(db), accessLog: createAccessLogger(config.logLevel), accessLineNotes, metricsRoute: metrics && config.metrics.token ? metricsModule!.metricsEndpoint(metrics, config.metrics.token) : undefined,
    alerts: { vapidPublicKey: vapid.publicKey, notify: config.notify, emailEnabled: Boolean(mailer) },
    alertChannels: {
      email: mailer ? `${config.smtp.host}:${config.smtp.port} (${config.smtp.security})` : undefined, webhook: Boolean(config.notify.webhookUrl),
      sendTestEmail: mailer ? (to) => sendTestEmail(mailer, config.issuer, to) : undefined,
    },
  });
  const server: Server = createListener(app.callback(), config.timeouts, log);
  await new Promise<void>((resolve, reject) => server.listen({ port: config.port, host: config.host }, resolve).once('error', reject));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ issuer: config.issuer, port, database: describeDatabase(config) }, 'accouch listening');
  const metricsServer = metrics && config.metrics.port !== undefined
    ? await listenForMetrics(metricsModule!.createMetricsApp(metrics, config.metrics.token).callback(), config.metrics.port, config.metrics.host, log)
    : undefined;
  // Loaded only when on: @kubernetes/client-node is large, and most households run without a cluster.
  const operator = config.kubernetes.enabled ? (await import('./cluster/operator.js')).startOperator({ config, db, log }) : undefined;
  // Background jobs: idempotent, so two replicas running them at once is harmless.
  const keyWatch = setInterval(async () => {
    try {
      const current = await keysVersion(db);
      if (current === version) return;
      version = current;
      provider = await build();
      log.info({ event: 'keys.reloaded' }, 'signing keys changed: provider reloaded');
    } catch (error) {
      log.error({ err: error }, 'key reload failed');
    }
  }, 5_000);
  // One commit for the whole purge (writes.run + settle), and a shutdown waits for a purge under way.
  const writes = requestWritesOf(db);
  let purging: Promise<void> = Promise.resolve();
  const purgeExpired = () => (purging = writes.run(async () => {
    try {
      const now = Math.floor(Date.now() / 1000);
      const purged = await purgeExpiredPayloads(db, now);
      await purgeThrottles(db, now);
      await purgeChallenges(db, now);
      await deleteExpiredLinkTokens(db, now);
      await deleteExpiredFederationStates(db, now);
      // A sign-in's context lives as long as anything minted from it can (its grant, session, tokens).
      await purgeSignIns(db, now - Math.max(config.ttl.grant, config.ttl.session, config.ttl.refreshToken) - 86400);
      await writes.settle();
      if (purged) log.debug({ purged }, 'purged expired artefacts');
    } catch (error) {
      log.error({ err: error }, 'purge failed');
    }
  }));
  void purgeExpired();
  const purge = setInterval(purgeExpired, 10 * 60_000);
  keyWatch.unref();
  purge.unref();
  alertWorker.start();

  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down: draining requests');
    clearInterval(keyWatch);
    clearInterval(purge);
    metricsServer?.close();
    const operatorStopped = operator?.stop();
    server.close(async () => {
      await alertWorker.stop();
      mailer?.close();
      await operatorStopped;
      await purging;
      await db.destroy();
      log.info('stopped');
      process.exit(0);
    });
    // Keep-alive sockets become idle as their last response goes out: close them then, not at keep-alive timeout.
    setInterval(() => server.closeIdleConnections(), 50).unref();
    setTimeout(() => server.closeAllConnections(), 10_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // After the signal handlers: creating the link writes, and a SIGTERM meanwhile must still drain and close.
  if (await setupNeeded(db)) {
    // A new link at every start; the earlier ones (in old logs) stop working.
    const { token, revoked } = await issueEnrolLink(db, box, { purpose: 'setup', actor: 'server' });
    console.log(`\nAccouch is running at ${config.issuer} (port ${port}). Nobody can sign in yet: open this one-time link\nwithin an hour to create the owner's account (\`npx accouch setup-link\` prints a fresh one${revoked ? '; earlier links no longer work' : ''}):\n\n  ${config.issuer.replace(/\/$/, '')}/setup?token=${token}\n`);
  }
  setImmediate(() => {
    releaseStartMemory(log);
    // After the start, whose burst of allocation V8's own growth factor serves with fewer collections.
    boundHeapGrowth();
  });
}

await runCli(createCli({ serve, version }), process.argv);
