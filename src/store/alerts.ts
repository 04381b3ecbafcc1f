// Query functions for sign-in alerts: audit events awaiting fan-out, alerts, the delivery outbox, push
// subscriptions, each person's choices, what was already seen, and the step-up after "This wasn't me".
import type { Kysely, Transaction } from 'kysely';
import { epoch } from './db.js';
import type { AlertOutboxTable, AlertsTable, Database, PushSubscriptionsTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface PendingEvent { id: number; at: number; event: string; actor: string | null; ip: string | null; detail: Record<string, unknown> }

/** Audit events the fan-out has not looked at yet, oldest first. */
export async function listPendingEvents(db: Executor, limit = 50): Promise<PendingEvent[]> {
  const rows = await db.selectFrom('audit_log').select(['id', 'at', 'event', 'actor', 'ip', 'detail'])
    .where('alert_pending', '=', 1).orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id), at: Number(r.at), detail: JSON.parse(r.detail) as Record<string, unknown> }));
}

/** Takes an event for fan-out; false when another replica already did. */
export async function takePendingEvent(trx: Executor, id: number): Promise<boolean> {
  const result = await trx.updateTable('audit_log').set({ alert_pending: 0 }).where('id', '=', id).where('alert_pending', '=', 1).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Remembers that a person used this browser / app / lock; true when it is the first time. */
export async function markSeen(trx: Executor, userId: string, kind: string, value: string, now = epoch()): Promise<boolean> {
  const result = await trx.insertInto('alert_seen').values({ user_id: userId, kind, value, first_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'kind', 'value']).doNothing()).executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function countSeen(db: Executor, userId: string, kind: string): Promise<number> {
  const row = await db.selectFrom('alert_seen').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('kind', '=', kind).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertAlert(trx: Executor, row: AlertsTable): Promise<void> {
  await trx.insertInto('alerts').values(row).execute();
}

export async function insertDeliveries(trx: Executor, rows: AlertOutboxTable[]): Promise<void> {
  if (rows.length) await trx.insertInto('alert_outbox').values(rows).execute();
}

export async function findAlert(db: Executor, id: string): Promise<AlertsTable | undefined> {
  const row = await db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && { ...row, audit_id: Number(row.audit_id), at: Number(row.at), expires_at: Number(row.expires_at), used_at: row.used_at === null ? null : Number(row.used_at) };
}

/** Uses up an alert's "This wasn't me"; false when it was used already. */
export async function useAlert(db: Executor, id: string, now = epoch()): Promise<boolean> {
  const result = await db.updateTable('alerts').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteExpiredAlerts(db: Executor, now = epoch()): Promise<void> {
  await db.deleteFrom('alerts').where('expires_at', '<', now).execute();
}

export type Delivery = AlertOutboxTable;

/** Deliveries due now, oldest first. */
export async function listDueDeliveries(db: Executor, now: number, limit = 20): Promise<Delivery[]> {
  const rows = await db.selectFrom('alert_outbox').selectAll().where('next_at', '<=', now).orderBy('created_at').orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts), next_at: Number(r.next_at), created_at: Number(r.created_at) }));
}

/** Takes a delivery until `until` (compare-and-set on next_at): false when another sender has it. */
export async function leaseDelivery(db: Executor, delivery: Delivery, until: number): Promise<boolean> {
  const result = await db.updateTable('alert_outbox').set({ next_at: until, attempts: delivery.attempts + 1 })
    .where('id', '=', delivery.id).where('next_at', '=', delivery.next_at).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteDelivery(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('alert_outbox').where('id', '=', id).execute();
}

export async function retryDeliveryAt(db: Executor, id: string, at: number): Promise<void> {
  await db.updateTable('alert_outbox').set({ next_at: at }).where('id', '=', id).execute();
}

export type PushSubscription = PushSubscriptionsTable;

/** Saves a browser's subscription for a person (the same endpoint again replaces the old one). */
export async function savePushSubscription(db: Executor, row: PushSubscription): Promise<void> {
  await db.insertInto('push_subscriptions').values(row)
    .onConflict((oc) => oc.column('endpoint').doUpdateSet({ user_id: row.user_id, p256dh: row.p256dh, auth: row.auth, label: row.label, created_at: row.created_at }))
    .execute();
}

export async function listPushSubscriptions(db: Executor, userId: string): Promise<PushSubscription[]> {
  const rows = await db.selectFrom('push_subscriptions').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  return rows.map((r) => ({ ...r, created_at: Number(r.created_at) }));
}

export async function findPushSubscription(db: Executor, id: string): Promise<PushSubscription | undefined> {
  return db.selectFrom('push_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Removes a subscription (of this person, when given); true when there was one. */
export async function deletePushSubscription(db: Executor, id: string, userId?: string): Promise<boolean> {
  let query = db.deleteFrom('push_subscriptions').where('id', '=', id);
  if (userId) query = query.where('user_id', '=', userId);
  return Number((await query.executeTakeFirst()).numDeletedRows) > 0;
}

export async function findAlertPrefs(db: Executor, userId: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.selectFrom('alert_prefs').select('prefs').where('user_id', '=', userId).executeTakeFirst();
  return row && (JSON.parse(row.prefs) as Record<string, unknown>);
}

export async function saveAlertPrefs(db: Executor, userId: string, prefs: object, now = epoch()): Promise<void> {
  const value = JSON.stringify(prefs);
  await db.insertInto('alert_prefs').values({ user_id: userId, prefs: value, updated_at: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ prefs: value, updated_at: now })).execute();
}

export async function listGroupMemberIds(db: Executor, group: string): Promise<string[]> {
  const rows = await db.selectFrom('user_groups').innerJoin('users', 'users.id', 'user_groups.user_id')
    .select('users.id').where('group_name', '=', group).where('users.disabled', '=', 0).execute();
  return rows.map((r) => r.id);
}

export async function setStepUp(db: Executor, userId: string, now = epoch()): Promise<void> {
  await db.insertInto('step_up').values({ user_id: userId, since: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ since: now })).execute();
}

export async function hasStepUp(db: Executor, userId: string): Promise<boolean> {
  return Boolean(await db.selectFrom('step_up').select('user_id').where('user_id', '=', userId).executeTakeFirst());
}

export async function clearStepUp(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('step_up').where('user_id', '=', userId).execute();
}
