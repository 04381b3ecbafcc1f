// Bulk seeding for the scaling run, against a stopped server's data dir (env ACCOUCH_DATA_DIR, ACCOUCH_ISSUER).
// The CLI spends ~0.5 s per user (a process and a scrypt hash), so this script uses the same compiled code the
// CLI and the server use (dist/src): users through store/users.createUser with one scrypt hash from
// auth/password.hashPassword shared by all of them (sign-in cost is not what this run measures), clients
// through store/clients.insertClient, and grants with a refresh token and an access token each through
// oidc-provider's own models over Accouch's adapter (oidc/provider.createProvider). Only this process's
// connection runs with synchronous=OFF, so seeding does not wait for 30,000 fsyncs.
// Usage: node bench/seed-scale.mjs <users> <clients> <grants>; prints JSON counts.
import { sql } from 'kysely';

const dist = new URL('../dist/src/', import.meta.url);
const load = (path) => import(new URL(path, dist).href);
const [{ loadConfig, clientSchema }, { openDatabase }, { migrateToLatest }, { createUser, listUsers }, { hashPassword }, { insertClient },
  { createProvider }, { ensureSigningKeys, keyRetention, loadCookieKeys, loadJwks }, { createNetworkClassifier }, { createLogger }] = await Promise.all([
  load('config.js'), load('store/db.js'), load('store/migrate.js'), load('store/users.js'), load('auth/password.js'), load('store/clients.js'),
  load('oidc/provider.js'), load('oidc/keys.js'), load('auth/network.js'), load('log.js'),
]);

const [users, clients, grants] = process.argv.slice(2).map(Number);
const config = loadConfig({ env: process.env });
const db = openDatabase(config);
try {
  await sql`pragma synchronous = OFF`.execute(db);
  await migrateToLatest(db);
  await ensureSigningKeys(db);

  const existing = (await listUsers(db)).length;
  const passwordHash = await hashPassword('correct horse battery staple');
  for (let i = existing; i < users; i += 1) {
    const username = `filler${String(i).padStart(5, '0')}`;
    await createUser(db, { username, name: `Filler ${i}`, email: `${username}@home.example`, emailVerified: true, groups: i % 3 ? ['family'] : ['family', 'admins'], passwordHash });
  }

  const clientIds = [];
  for (let i = 0; i < clients; i += 1) {
    const id = `filler-app-${i}`;
    await insertClient(db, 'cli', clientSchema.parse({ id, name: `Filler app ${i}`, secret: `filler-secret-${i}-${'x'.repeat(32)}`, redirectUris: [`https://app${i}.example/callback`], refresh: 'always', skipConsent: true }));
    clientIds.push(id);
  }

  const provider = createProvider({
    config, db, log: createLogger('silent'), render: () => '', classifier: createNetworkClassifier(config.network),
    jwks: await loadJwks(db, keyRetention(config.ttl)), cookieKeys: await loadCookieKeys(db),
  });
  const accounts = (await listUsers(db)).map((u) => u.id);
  const clientObjects = await Promise.all(clientIds.map((id) => provider.Client.find(id)));
  const scope = 'openid profile email groups';
  const authTime = Math.floor(Date.now() / 1000);
  for (let i = 0; i < grants; i += 1) {
    const accountId = accounts[i % accounts.length];
    const client = clientObjects[i % clientObjects.length];
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const common = { client, accountId, grantId, scope, gty: 'authorization_code', authTime, sessionUid: `filler-${i}` };
    await new provider.RefreshToken({ ...common, expiresWithSession: false, rotations: 0, iiat: authTime }).save();
    await new provider.AccessToken({ ...common, expiresWithSession: false }).save();
  }
  const { count } = await db.selectFrom('oidc_payloads').select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow();
  console.log(JSON.stringify({ users: accounts.length, clients: clientIds.length, grants, payloadRows: Number(count) }));
} finally {
  await sql`pragma synchronous = FULL`.execute(db);
  await db.destroy();
}
