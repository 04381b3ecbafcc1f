// Initial schema: users and groups, clients, oidc-provider payloads, signing keys, secrets, audit log.
// Frozen once landed: never import app code here.
import { PostgresAdapter, type Kysely, type Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('picture', 'text')
      .addColumn('password_hash', 'text')
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('user_groups')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('group_name', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_groups_pk', ['user_id', 'group_name'])
      .execute();

    await trx.schema.createTable('clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('oidc_payloads')
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'text')
      .addColumn('user_code', 'text')
      .addColumn('uid', 'text')
      .addColumn('expires_at', 'bigint')
      .addColumn('consumed_at', 'bigint')
      .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
      .execute();
    await trx.schema.createIndex('oidc_payloads_grant_id').on('oidc_payloads').column('grant_id').execute();
    await trx.schema.createIndex('oidc_payloads_user_code').on('oidc_payloads').columns(['model', 'user_code']).execute();
    await trx.schema.createIndex('oidc_payloads_uid').on('oidc_payloads').columns(['model', 'uid']).execute();
    await trx.schema.createIndex('oidc_payloads_expires_at').on('oidc_payloads').column('expires_at').execute();

    await trx.schema.createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('private_jwk', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .execute();

    await trx.schema.createTable('secrets')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('login_throttle')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('first_failure_at', 'bigint', (c) => c.notNull())
      .addColumn('locked_until', 'bigint', (c) => c.notNull())
      .execute();

    // SQLite's AUTOINCREMENT; PostgreSQL's standard identity column (BY DEFAULT, so an import may keep ids).
    const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    await trx.schema.createTable('audit_log')
      .addColumn('id', 'integer', (c) => (postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('actor', 'text')
      .addColumn('ip', 'text')
      .addColumn('detail', 'text', (c) => c.notNull())
      .execute();
    await trx.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
