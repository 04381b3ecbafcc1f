// Sign-in factors: WebAuthn credentials and challenges, TOTP, recovery codes, avatars, setup and invite
// tokens, per-login context (network, factors), the account a payload belongs to, a lifetime failure count.
// Frozen once landed: never import app code here.
import type { Kysely, Transaction } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // PostgreSQL's migrator already runs each migration in a transaction (its DDL is transactional); SQLite's does not.
  const run = async (trx: Kysely<any> | Transaction<any>) => {
    await trx.schema.createTable('webauthn_credentials')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('counter', 'bigint', (c) => c.notNull())
      .addColumn('transports', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .execute();
    await trx.schema.createIndex('webauthn_credentials_user').on('webauthn_credentials').column('user_id').execute();

    await trx.schema.createTable('webauthn_challenges')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('ceremony', 'text', (c) => c.notNull())
      .addColumn('binding', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('challenge', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('totp_secrets')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('last_step', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('recovery_codes')
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_hash'])
      .execute();

    await trx.schema.createTable('avatars')
      .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('etag', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('link_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await trx.schema.createTable('sign_ins')
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('auth_time', 'bigint', (c) => c.notNull())
      .addColumn('network', 'text', (c) => c.notNull())
      .addColumn('amr', 'text', (c) => c.notNull())
      .addColumn('acr', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sign_ins_pk', ['account_id', 'auth_time'])
      .execute();

    await trx.schema.alterTable('oidc_payloads').addColumn('account_id', 'text').execute();
    await trx.schema.createIndex('oidc_payloads_account').on('oidc_payloads').columns(['account_id', 'model']).execute();
    await trx.schema.alterTable('login_throttle').addColumn('consecutive', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}
