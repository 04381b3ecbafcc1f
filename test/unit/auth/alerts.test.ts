// Sign-in alerts on a real database: which recorded events alert whom, the outbox's retries, backoff, leases and
// one-day limit, dead push subscriptions, "This wasn't me" (single use, signed, revoking, stepping up), and the
// step-up's effect on the next sign-in's decision.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { fanOutPending } from '../../../src/auth/alerts/fan-out.js';
import { alertToken } from '../../../src/auth/alerts/link.js';
import { confirmNotMe, openAlertLink } from '../../../src/auth/alerts/not-me.js';
import { saveOwnPrefs } from '../../../src/auth/alerts/prefs.js';
import { createAlertWorker, type AlertChannels } from '../../../src/auth/alerts/sender.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { decide, factorsOf } from '../../../src/auth/sign-in/factors.js';
import { loadConfig } from '../../../src/config.js';
import { hasStepUp, listPushSubscriptions, savePushSubscription } from '../../../src/store/alerts.js';
import { recordAudit, withAuditContext } from '../../../src/store/audit.js';
import { insertCredential } from '../../../src/store/credentials.js';
import type { Db } from '../../../src/store/db.js';
import { saveTotp } from '../../../src/store/factors.js';
import { findPayload, upsertPayload } from '../../../src/store/oidc-payloads.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const box = createSecretBox(randomBytes(32));
const notify = loadConfig({ env: { ACCOUCH_NOTIFY_RETRY_SECONDS: '10' } }).notify;
const settings = { notify, email: true, accountClientId: 'accouch' };
const t0 = 1_800_000_000;

async function household(db: Db) {
  const owner = await createUser(db, { username: 'olive', name: 'Olive', email: 'olive@home.example', groups: ['admins'] });
  const paul = await createUser(db, { username: 'paul', name: 'Paul', email: 'paul@home.example' });
  await savePushSubscription(db, { id: 'phone', user_id: paul.id, endpoint: 'https://push.example/p', p256dh: 'k', auth: 'a', label: 'Chrome on Android', created_at: t0 });
  return { owner, paul };
}

const signIn = (db: Db, userId: string, detail: Record<string, unknown>, at = t0) =>
  recordAudit(db, { event: 'login.success', actor: userId, ip: '198.51.100.7', detail: { factors: ['password'], acr: '1fa', network: 'home', client: 'accouch', ...detail } }, at);

const alerts = (db: Db) => db.selectFrom('alerts').selectAll().orderBy('audit_id').orderBy('recipient_id').execute();
const outbox = (db: Db) => db.selectFrom('alert_outbox').selectAll().orderBy('created_at').execute();
const noErrors = (_e: unknown, error: unknown) => { throw error; };

describe('which events alert whom', () => {
  test('an outside sign-in alerts the person (push and email) and the owner (email: no device)', async () => {
    const db = await openTestDb();
    const { owner, paul } = await household(db);
    await signIn(db, paul.id, { network: 'outside' });
    await fanOutPending(db, settings, noErrors, t0);
    const made = await alerts(db);
    expect(made.filter((a) => a.kind === 'outside').map((a) => a.recipient_id).sort()).toEqual([owner.id, paul.id].sort());
    expect(made.every((a) => a.subject_id === paul.id)).toBe(true);
    const rows = await outbox(db);
    expect(rows.filter((r) => r.channel === 'push').map((r) => r.target)).toEqual(['phone']);
    expect(rows.filter((r) => r.channel === 'email').map((r) => r.target).sort()).toEqual(['olive@home.example', 'paul@home.example']);
    // Taken once: a second round makes nothing new.
    await fanOutPending(db, settings, noErrors, t0);
    expect(await alerts(db)).toHaveLength(made.length);
  });

  test('a new browser alerts only from the second browser on; a first sign-in to an app alerts once', async () => {
    const db = await openTestDb();
    const { paul } = await household(db);
    await withAuditContext({ browser: 'laptop', agent: 'Firefox on Linux' }, () => signIn(db, paul.id, { client: 'notes' }));
    await withAuditContext({ browser: 'laptop', agent: 'Firefox on Linux' }, () => signIn(db, paul.id, { client: 'notes' }));
    await withAuditContext({ browser: 'tablet', agent: 'Safari on iOS' }, () => signIn(db, paul.id, { client: 'notes' }));
    await fanOutPending(db, settings, noErrors, t0);
    const made = await alerts(db);
    expect(made.map((a) => a.kind)).toEqual(['newApp', 'newBrowser']);
    expect(JSON.parse(made[1]!.detail)).toMatchObject({ agent: 'Safari on iOS', client: 'notes' });
  });

  test('factor changes, used links and locks alert the person; the household owner hears of locks too', async () => {
    const db = await openTestDb();
    const { owner, paul } = await household(db);
    await recordAudit(db, { event: 'passkey.registered', actor: paul.id }, t0);
    await recordAudit(db, { event: 'user.reset_completed', actor: paul.id, detail: { user: paul.id } }, t0);
    await recordAudit(db, { event: 'client.created', actor: owner.id }, t0);
    await db.insertInto('login_throttle').values({ key: 'user:paul', failures: 9, first_failure_at: t0 - 60, locked_until: t0 + 120, consecutive: 9 }).execute();
    await db.insertInto('login_throttle').values({ key: 'user-outside:paul', failures: 9, first_failure_at: t0 - 60, locked_until: t0 + 120, consecutive: 9 }).execute();
    for (let i = 0; i < 3; i += 1) await recordAudit(db, { event: 'login.failure', actor: paul.id, detail: { factor: 'password', network: 'outside' } }, t0);
    await recordAudit(db, { event: 'login.locked', actor: null, detail: { username: 'paul', network: 'outside', until: t0 + 86400 } }, t0);
    await fanOutPending(db, settings, noErrors, t0);
    const made = await alerts(db);
    expect(made.filter((a) => a.recipient_id === paul.id).map((a) => a.kind)).toEqual(['factor', 'link', 'locked', 'locked']);
    expect(made.filter((a) => a.recipient_id === owner.id).map((a) => a.kind)).toEqual(['locked', 'locked']);
  });

  test('a person\'s choices decide the channels; an event older than a day alerts nobody', async () => {
    const db = await openTestDb();
    const { paul } = await household(db);
    await saveOwnPrefs(db, paul.id, { 'outside.email': 'on' });
    await signIn(db, paul.id, { network: 'outside' }, t0);
    await signIn(db, paul.id, { network: 'outside' }, t0 - 2 * 86400);
    await fanOutPending(db, settings, noErrors, t0);
    expect((await alerts(db)).filter((a) => a.recipient_id === paul.id)).toHaveLength(1);
    expect((await outbox(db)).filter((r) => r.target !== 'olive@home.example').map((r) => r.channel)).toEqual(['email']);
  });
});

describe('delivery', () => {
  const recorder = (behaviour: { push?: () => Promise<'sent' | 'gone'>; email?: () => Promise<void> } = {}) => {
    const sent: Array<{ channel: string; to: string; body: string }> = [];
    const channels: AlertChannels = {
      push: async (target, payload) => { sent.push({ channel: 'push', to: target.endpoint, body: payload }); return behaviour.push ? behaviour.push() : 'sent'; },
      email: async (to, message) => { sent.push({ channel: 'email', to, body: message.text }); if (behaviour.email) await behaviour.email(); },
      webhook: async (body) => { sent.push({ channel: 'webhook', to: '', body: JSON.stringify(body) }); },
    };
    return { sent, channels };
  };
  const quiet = { info: () => {}, warn: () => {}, error: () => {} };
  const worker = (db: Db, channels: AlertChannels, extra: Partial<typeof notify> = {}) => createAlertWorker({
    db, log: quiet, box, issuer: 'https://id.home.example', notify: { ...notify, ...extra }, emailEnabled: true, accountClientId: 'accouch', channels,
  });

  test('sends once, with the details link to the person and never to the webhook', async () => {
    const db = await openTestDb();
    const { paul } = await household(db);
    await signIn(db, paul.id, { network: 'outside' });
    const { sent, channels } = recorder();
    const w = worker(db, channels, { webhookUrl: 'https://hooks.home.example/x' });
    await Promise.all([w.tick(t0), w.tick(t0)]);
    await w.tick(t0 + 1);
    expect(sent.map((s) => `${s.channel}:${s.to}`).sort()).toEqual(['email:olive@home.example', 'email:paul@home.example', 'push:https://push.example/p', 'webhook:']);
    const push = JSON.parse(sent.find((s) => s.channel === 'push')!.body);
    expect(push.url).toMatch(/^https:\/\/id\.home\.example\/alerts\?token=[\w-]+\.[\w-]+$/);
    expect(sent.find((s) => s.channel === 'webhook')!.body).not.toContain('/alerts');
    expect(await outbox(db)).toEqual([]);
  });

  test('retries a failure later, twice as long each time, and drops it after a day', async () => {
    const db = await openTestDb();
    const { paul } = await household(db);
    await saveOwnPrefs(db, paul.id, { 'outside.push': 'on' });
    await db.deleteFrom('user_groups').execute();
    await signIn(db, paul.id, { network: 'outside' });
    const { sent, channels } = recorder({ push: () => Promise.reject(new Error('503')) });
    const w = worker(db, channels);
    await w.tick(t0);
    const first = (await outbox(db))[0]!;
    expect(first.attempts).toBe(1);
    // The retry is scheduled from the real clock: the first after retrySeconds, the next after twice that.
    const wait1 = Number(first.next_at) - Math.floor(Date.now() / 1000);
    expect(wait1).toBeGreaterThanOrEqual(9);
    expect(wait1).toBeLessThanOrEqual(10);
    await w.tick(Number(first.next_at));
    const second = (await outbox(db))[0]!;
    const wait2 = Number(second.next_at) - Math.floor(Date.now() / 1000);
    expect(wait2).toBeGreaterThanOrEqual(19);
    expect(sent).toHaveLength(2);
    await w.tick(t0 + 86400 + 1);
    expect(await outbox(db)).toEqual([]);
    expect(sent).toHaveLength(2);
  });

  test('a subscription the push service calls gone is removed', async () => {
    const db = await openTestDb();
    const { paul } = await household(db);
    await signIn(db, paul.id, { network: 'outside' });
    const { channels } = recorder({ push: async () => 'gone' });
    await worker(db, channels).tick(t0);
    expect(await listPushSubscriptions(db, paul.id)).toEqual([]);
  });
});

describe('"This wasn\'t me"', () => {
  async function withAlert(db: Db) {
    const { owner, paul } = await household(db);
    await upsertPayload(db, 'Session', 's1', { accountId: paul.id, loginTs: 10, authorizations: { notes: { grantId: 'g1' } } }, null);
    await upsertPayload(db, 'Grant', 'g1', { accountId: paul.id, clientId: 'notes' }, null);
    await upsertPayload(db, 'RefreshToken', 'r1', { accountId: paul.id, grantId: 'g1' }, null);
    await signIn(db, paul.id, { network: 'outside' });
    await fanOutPending(db, settings, noErrors, t0);
    const alert = (await alerts(db)).find((a) => a.recipient_id === paul.id)!;
    return { owner, paul, token: alertToken(box, alert.id) };
  }

  test('looking changes nothing; confirming revokes sessions, grants and refresh tokens, steps up, and tells the owner, once', async () => {
    const db = await openTestDb();
    const { owner, paul, token } = await withAlert(db);
    expect((await openAlertLink(db, box, token, t0)).status).toBe('valid');
    expect(await findPayload(db, 'Session', 'id', 's1')).toBeDefined();

    expect(await confirmNotMe(db, box, token, '203.0.113.9', t0 + 5)).toEqual({ done: true, sessionsEnded: 1 });
    for (const [model, id] of [['Session', 's1'], ['Grant', 'g1'], ['RefreshToken', 'r1']] as const) expect(await findPayload(db, model, 'id', id)).toBeUndefined();
    expect(await hasStepUp(db, paul.id)).toBe(true);
    expect(await confirmNotMe(db, box, token, undefined, t0 + 6)).toEqual({ done: false });
    expect((await openAlertLink(db, box, token, t0 + 6)).status).toBe('used');

    await fanOutPending(db, settings, noErrors, t0 + 6);
    const told = (await alerts(db)).filter((a) => a.kind === 'notMe');
    expect(told.map((a) => a.recipient_id)).toEqual([owner.id]);
  });

  test('a tampered, foreign or expired link does nothing', async () => {
    const db = await openTestDb();
    const { token } = await withAlert(db);
    const [id] = token.split('.');
    for (const bad of [`${id}.${'A'.repeat(43)}`, alertToken(createSecretBox(randomBytes(32)), id!), 'nonsense', undefined]) {
      expect((await openAlertLink(db, box, bad, t0)).status).toBe('invalid');
      expect(await confirmNotMe(db, box, bad, undefined, t0)).toEqual({ done: false });
    }
    expect(await confirmNotMe(db, box, token, undefined, t0 + 7 * 86400 + 1)).toEqual({ done: false });
    expect(await findPayload(db, 'Session', 'id', 's1')).toBeDefined();
  });

  test('the step-up asks for the strongest factor until a sign-in with it', async () => {
    const db = await openTestDb();
    const { paul, token } = await withAlert(db);
    await saveTotp(db, paul.id, 'sealed', t0);
    await insertCredential(db, { id: 'key1', userId: paul.id, publicKey: 'pk', counter: 0, transports: [], kind: 'security_key', name: 'Blue key', backedUp: false, createdAt: t0 });
    const pending = { userId: paul.id, factors: [{ factor: 'password' as const }] };
    expect(decide(pending, await factorsOf(db, { id: paul.id, passwordHash: 'x' }), '1fa')).toMatchObject({ status: 'more', options: ['webauthn', 'totp'] });

    await confirmNotMe(db, box, token, undefined, t0 + 5);
    expect(decide(pending, await factorsOf(db, { id: paul.id, passwordHash: 'x' }), '1fa')).toMatchObject({ status: 'more', options: ['webauthn'] });
    // A code does not finish it; the key does.
    const withCode = { ...pending, factors: [...pending.factors, { factor: 'totp' as const }] };
    expect(decide(withCode, await factorsOf(db, { id: paul.id, passwordHash: 'x' }), '1fa').status).toBe('more');

    await signIn(db, paul.id, { acr: 'mfa' }, t0 + 10);
    await fanOutPending(db, settings, noErrors, t0 + 10);
    expect(await hasStepUp(db, paul.id)).toBe(true);
    await signIn(db, paul.id, { acr: 'phr' }, t0 + 20);
    await fanOutPending(db, settings, noErrors, t0 + 20);
    expect(await hasStepUp(db, paul.id)).toBe(false);
  });
});
