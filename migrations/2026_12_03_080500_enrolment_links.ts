// Enrolment links: the browser that claimed a link (a keyed hash of its id, so another browser gets an "in use"
// page) and the short code a person can type instead of the link. Frozen once landed: never import app code here.
import type { Kysely, Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.alterTable('link_tokens').addColumn('claim_hash', 'text').execute();
    await trx.schema.alterTable('link_tokens').addColumn('code_hash', 'text').execute();
    await trx.schema.createIndex('link_tokens_code_hash').on('link_tokens').column('code_hash').unique().execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
