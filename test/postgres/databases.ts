// Fresh databases on the run's private PostgreSQL server (test/postgres/global-setup.ts), one per test or per
// server under test: empty, or copied from the migrated template.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export { migratedTemplate } from './global-setup.js';

const server = () => {
  const provided = inject('postgres');
  if (!provided) throw new Error('no PostgreSQL server: run this file in a project whose globalSetup is test/postgres/global-setup.ts');
  return provided;
};

/** The URL of a database on the test server. */
export const databaseUrl = (name: string) => `${server().urlPrefix}${encodeURIComponent(name)}${server().urlSuffix}`;

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server().adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates database `name` (a copy of `template`, else empty) unless it exists; returns its URL. */
export async function ensureDatabase(name: string, template?: string): Promise<string> {
  await admin(async (client) => {
    const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount) return;
    await client.query(`create database ${client.escapeIdentifier(name)}${template ? ` template ${client.escapeIdentifier(template)}` : ''}`);
  });
  return databaseUrl(name);
}

/** A new database with a random name; drop() removes it, closing whatever connections are left. */
export async function createDatabase(template?: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const url = await ensureDatabase(name, template);
  return { name, url, drop: () => dropDatabase(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`));
}
