// What each person allowed each app (the scopes of a consent page), kept across sign-outs so the consent page
// is asked again only when the app asks for more. Frozen once landed: never import app code here.
import type { Kysely, Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.createTable('remembered_consents')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('client_id', 'text', (c) => c.notNull())
      // Space-separated scopes, sorted.
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('remembered_consents_pk', ['user_id', 'client_id'])
      .execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
