// Which engine a configuration opens, and how it is named in logs: never with the database password.
import { describe, expect, test } from 'vitest';
import { describeDatabase } from '../../../src/store/db.js';

describe('describeDatabase', () => {
  test('names the SQLite file in the data directory', () => {
    expect(describeDatabase({ dataDir: '/srv/accouch', databaseUrl: undefined })).toBe('/srv/accouch/accouch.sqlite');
  });

  test('shows a PostgreSQL URL without its password', () => {
    const shown = describeDatabase({ dataDir: './data', databaseUrl: 'postgres://accouch:s3cr%21t@db.internal:5432/accouch?sslmode=require&password=other' });
    expect(shown).toContain('accouch@db.internal:5432/accouch');
    expect(shown).toContain('sslmode=require');
    expect(shown).not.toMatch(/s3cr|other/);
  });
});
