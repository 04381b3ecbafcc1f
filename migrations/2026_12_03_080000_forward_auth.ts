// Apps protected by forward-auth (a reverse proxy asks Accouch before every request): one row per app, its
// hosts in a table of their own so that one host belongs to one app. Frozen once landed: never import app code.
import type { Kysely, Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.createTable('forward_auth_apps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await trx.schema.createTable('forward_auth_hosts')
      .addColumn('host', 'text', (c) => c.primaryKey())
      .addColumn('app_id', 'text', (c) => c.notNull().references('forward_auth_apps.id').onDelete('cascade'))
      .execute();
    await trx.schema.createIndex('forward_auth_hosts_app').on('forward_auth_hosts').column('app_id').execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('forward_auth_hosts').execute();
  await db.schema.dropTable('forward_auth_apps').execute();
}
