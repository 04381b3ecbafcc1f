// A user is read with their picture's version (the etag) on every token, userinfo and session check. On SQLite the
// etag sat after the picture's data in its row, so reading it walked the picture's overflow pages (tens of kB)
// each time: the table is rebuilt with the data last. PostgreSQL keeps large values out of line already.
// Frozen once landed: never import app code here.
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  const run = async (trx: Kysely<any>) => {
    await trx.schema.createTable('avatars_rebuilt')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('etag', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .execute();
    await sql`insert into avatars_rebuilt (user_id, content_type, etag, updated_at, data)
      select user_id, content_type, etag, updated_at, data from avatars`.execute(trx);
    await trx.schema.dropTable('avatars').execute();
    await trx.schema.alterTable('avatars_rebuilt').renameTo('avatars').execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
