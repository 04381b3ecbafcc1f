// vitest globalSetup of the PostgreSQL projects: one private server for the run, a migrated template database
// that test databases are copied from, and the server's address handed to the tests (inject('postgres')).
import { sql } from 'kysely';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/store/db.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { startPostgres } from './server.js';

/** The database every test database with the full schema is copied from. */
export const migratedTemplate = 'accouch_migrated';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { adminUrl: string; urlPrefix: string; urlSuffix: string };
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const server = startPostgres();
  try {
    const admin = openDatabase({ dataDir: '', databaseUrl: server.urlOf('postgres') });
    await sql.raw(`create database ${migratedTemplate}`).execute(admin);
    await admin.destroy();
    const template = openDatabase({ dataDir: '', databaseUrl: server.urlOf(migratedTemplate) });
    await migrateToLatest(template);
    await template.destroy();
  } catch (error) {
    server.stop();
    throw error;
  }
  const probe = server.urlOf('DBNAME');
  const [urlPrefix, urlSuffix] = probe.split('DBNAME') as [string, string];
  project.provide('postgres', { adminUrl: server.urlOf('postgres'), urlPrefix, urlSuffix });
  return () => server.stop();
}
