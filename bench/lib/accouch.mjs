// Accouch as an operator runs it: `node dist/src/main.js serve` on loopback with a data dir, seeded through
// the CLI, and the owner set up through the first-boot pages with a (software) passkey.
import { readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { createAuthenticator } from './authenticator.mjs';
import { Agent, pool, redirectUri } from './browser.mjs';
import { mainJs, runCli, runCliAsync, startProcess } from './processes.mjs';

export const userPassword = 'correct horse battery staple';
export const clientId = 'bench-app';
export const userName = (i) => `user${String(i + 1).padStart(4, '0')}`;

export function accouchEnv(dataDir, port) {
  return {
    ACCOUCH_ISSUER: `http://localhost:${port}`,
    ACCOUCH_HOST: '127.0.0.1',
    ACCOUCH_PORT: String(port),
    ACCOUCH_DATA_DIR: dataDir,
    // The default level: one JSON line per request, as in production.
    ACCOUCH_LOG_LEVEL: 'info',
  };
}

/** The Node flags Accouch ships with (`npm start`, and the image's NODE_OPTIONS): the bench runs it the same way. */
export const shippedNodeFlags = ['--max-semi-space-size=8'];

/** Starts Accouch; `logDir` receives its stdout/stderr. */
export function startAccouch({ dataDir, port, logDir, label, nodeFlags = [], env = {} }) {
  return startProcess({
    name: `accouch ${label}`, args: [mainJs, 'serve'], env: { ...accouchEnv(dataDir, port), ...env }, port, readyPath: '/readyz',
    logFile: join(logDir, `accouch-${label}.log`), nodeFlags: [...shippedNodeFlags, ...nodeFlags],
  });
}

/** The bench app (skips consent, refresh tokens always, client_credentials) and `users` users, through the CLI. */
export async function seedThroughCli(env, users) {
  const out = runCli(env, ['client', 'add', clientId, '--name', 'Bench', '--redirect-uri', redirectUri, '--skip-consent', '--refresh', 'always', '--client-credentials']);
  const secret = out.match(/client secret \(shown once, store it now\): (\S+)/)?.[1];
  if (!secret) throw new Error(`no client secret in: ${out}`);
  // Two at a time: each CLI process hashes one password with scrypt.
  await pool(users, 2, (i) => runCliAsync(env, ['user', 'add', userName(i), '--name', `User ${i + 1}`, '--email', `${userName(i)}@home.example`, '--groups', 'family', '--password-stdin'], userPassword));
  return { id: clientId, secret };
}

/**
 * The setup link this start printed: it comes just after the server listens (the link is a write), so the log
 * may not hold it yet when /readyz answers. Waits for the file to change, 10 s at most.
 */
async function setupToken(logFile) {
  // The last link printed: the log file collects every start of this data dir.
  const read = () => [...readFileSync(logFile, 'utf8').matchAll(/\/setup\?token=(\S+)/g)].at(-1)?.[1];
  const watcher = watch(logFile);
  try {
    const deadline = AbortSignal.timeout(10_000);
    for (let token = read(); ; token = read()) {
      if (token) return token;
      if (deadline.aborted) throw new Error('the first boot printed no setup link within 10 s');
      await new Promise((resolve) => { watcher.once('change', resolve); deadline.addEventListener('abort', resolve, { once: true }); });
    }
  } finally {
    watcher.close();
  }
}

/**
 * The first-boot setup as the owner does it: the link printed on first boot, the profile form, a passkey
 * registered with a software authenticator, recovery codes, finish. Returns the authenticator.
 */
export async function setUpOwner(server) {
  const origin = `http://127.0.0.1:${server.port}`;
  const token = await setupToken(server.logFile);
  const agent = new Agent(origin);
  const q = `?token=${encodeURIComponent(token)}`;
  const form = new FormData();
  for (const [k, v] of Object.entries({ token, username: 'owner', name: 'Owner Example', email: 'owner@home.example', method: 'passkey' })) form.set(k, v);
  let res = await agent.request(`/setup/profile${q}`, { method: 'POST', body: form });
  if (res.status !== 303) throw new Error(`setup profile answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  res = await agent.postJson(`/setup/webauthn/options${q}`, {});
  const options = await res.json();
  if (res.status !== 200) throw new Error(`setup options answered ${res.status}: ${JSON.stringify(options)}`);
  const authenticator = createAuthenticator({ rpId: options.rp.id, origin: `http://localhost:${server.port}` });
  res = await agent.postJson(`/setup/webauthn${q}`, { response: authenticator.register(options), name: 'Bench passkey' });
  if (res.status !== 200) throw new Error(`setup passkey answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  await (await agent.request(`/setup${q}`)).arrayBuffer(); // the recovery codes page
  res = await agent.post('/setup/finish', { token });
  if (res.status !== 303) throw new Error(`setup finish answered ${res.status}`);
  return authenticator;
}
