// Sign-in alerts: which audit events still await fan-out (flagged in the same insert as the event), the alerts
// made from them (their "This wasn't me" link is single use), the outbox of deliveries with retries, the
// browsers' push subscriptions, each person's choices, what a person was already seen using, and the people
// whose next sign-in must use their strongest factor. Frozen once landed: never import app code here.
import { sql, type Kysely, type Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.alterTable('audit_log').addColumn('alert_pending', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await trx.schema.createIndex('audit_log_alert_pending').on('audit_log').column('id').where(sql.ref('alert_pending'), '=', 1).execute();

    await trx.schema.createTable('alerts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('recipient_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('subject_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('audit_id', 'bigint', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('detail', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await trx.schema.createIndex('alerts_expires').on('alerts').column('expires_at').execute();

    await trx.schema.createTable('alert_outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await trx.schema.createIndex('alert_outbox_next').on('alert_outbox').column('next_at').execute();

    await trx.schema.createTable('push_subscriptions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('endpoint', 'text', (c) => c.notNull().unique())
      .addColumn('p256dh', 'text', (c) => c.notNull())
      .addColumn('auth', 'text', (c) => c.notNull())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await trx.schema.createIndex('push_subscriptions_user').on('push_subscriptions').column('user_id').execute();

    await trx.schema.createTable('alert_prefs')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('prefs', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('alert_seen')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('first_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('alert_seen_pk', ['user_id', 'kind', 'value'])
      .execute();

    await trx.schema.createTable('step_up')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('since', 'bigint', (c) => c.notNull())
      .execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
