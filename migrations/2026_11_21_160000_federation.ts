// Upstream identity providers: the ones added in the owner console (those in the YAML file live there), the
// upstream identities linked to household users, and the short-lived state of a sign-in at an upstream.
// Frozen once landed: never import app code here.
import type { Kysely, Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.createTable('upstreams')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('federated_identities')
      .addColumn('upstream_id', 'text', (c) => c.notNull())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('login', 'text')
      .addColumn('email', 'text')
      .addColumn('linked_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      // A subject is unique only at its issuer: an upstream pointed elsewhere must not sign in old links.
      .addPrimaryKeyConstraint('federated_identities_pk', ['upstream_id', 'issuer', 'subject'])
      .execute();
    // One linked account per upstream and user.
    await trx.schema.createIndex('federated_identities_user').on('federated_identities').columns(['user_id', 'upstream_id']).unique().execute();

    await trx.schema.createTable('federation_states')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('upstream_id', 'text', (c) => c.notNull())
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('binding', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('verifier', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
