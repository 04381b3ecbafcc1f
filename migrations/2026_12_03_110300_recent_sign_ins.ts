// The "Who is signing in?" page of a large household: each user's latest sign-in (the page shows the most recent
// few), and indexes for finding someone by the start of their username or name, so the page and its search read a
// handful of rows whatever the household's size. Frozen once landed: never import app code here.
import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Prefix searches are byte ranges: PostgreSQL's default collation may order by locale, so its indexes (and the
  // queries in store/people.ts) say "C"; SQLite compares bytes already and has the username's unique index.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.alterTable('users').addColumn('last_sign_in_at', 'bigint').execute();
    await sql`update users set last_sign_in_at = (select max(auth_time) from sign_ins where sign_ins.account_id = users.id)`.execute(trx);
    await trx.schema.createIndex('users_last_sign_in').on('users').column('last_sign_in_at').execute();
    await trx.schema.createIndex('users_name_prefix').on('users').expression(postgres ? sql`lower(name) collate "C"` : sql`lower(name)`).execute();
    if (postgres) await trx.schema.createIndex('users_username_prefix').on('users').expression(sql`username collate "C"`).execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
