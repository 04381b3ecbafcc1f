// Four projects: fast unit tests in parallel, and end-to-end tests (real server processes) one file at a time,
// each on SQLite and again, for the parts that touch the database, on a private PostgreSQL server started for
// the run (test/postgres/global-setup.ts).
import { defineConfig } from 'vitest/config';

/** Unit tests that go through the store: they run on both engines. */
const storeUnitTests = [
  'test/unit/store/**/*.test.ts',
  'test/unit/oidc/{adapter,clients,keys}.test.ts',
  'test/unit/auth/{account,admin,alerts,enrol,federation,recovery,throttle,totp}.test.ts',
];

/**
 * The end-to-end flows that matter most, again with the server on PostgreSQL; replicas.test.ts needs it. Tests in
 * these files that the engine does not change are defined for the SQLite run only (support/server.ts sqliteOnly).
 */
const postgresE2eTests = [
  'test/e2e/oidc-flows.test.ts',
  'test/e2e/sessions-device.test.ts',
  'test/e2e/sign-in-factors.test.ts',
  'test/e2e/sign-in-passkey.test.ts',
  'test/e2e/enrol.test.ts', // claims and the one-owner transaction on both engines
  'test/e2e/lifecycle.test.ts',
  'test/e2e/replicas.test.ts',
  'test/e2e/backup.test.ts', // export from SQLite, import into PostgreSQL
  'test/e2e/disk-full-postgres.test.ts', // SQLSTATE 53100 as a 503
];
const e2e = {
  environment: 'node',
  fileParallelism: false,
  testTimeout: 60_000,
  hookTimeout: 120_000,
} as const;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: ['**/*.postgres.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'unit-postgres',
          include: [...storeUnitTests, 'test/unit/**/*.postgres.test.ts'],
          exclude: ['**/*.sqlite.test.ts'],
          environment: 'node',
          env: { ACCOUCH_TEST_DATABASE: 'postgres' },
          globalSetup: ['test/postgres/global-setup.ts'],
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ['test/e2e/replicas.test.ts', 'test/e2e/disk-full-postgres.test.ts'],
          globalSetup: ['test/temp-dir.ts', 'test/e2e/global-setup.ts'],
          ...e2e,
        },
      },
      {
        test: {
          name: 'e2e-postgres',
          include: postgresE2eTests,
          sequence: { groupOrder: 1 }, // after the SQLite e2e run, not beside it: two servers and browsers at once are slow
          env: { ACCOUCH_TEST_DATABASE: 'postgres' },
          globalSetup: ['test/temp-dir.ts', 'test/e2e/global-setup.ts', 'test/postgres/global-setup.ts'],
          ...e2e,
        },
      },
    ],
  },
});
