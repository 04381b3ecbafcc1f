// loadConfig: defaults, the four-level precedence, every problem reported with its path, secrets from files.
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { tempFile } from './helpers.js';

const secret = '0123456789abcdef-secret';

/** Runs loadConfig expecting a ConfigError and returns its problem list. */
function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw ConfigError');
}

describe('loadConfig', () => {
  test('with nothing set, serves http://localhost:8080 on port 8080 from ./data', () => {
    const config = loadConfig({ env: {} });
    expect(config.issuer).toBe('http://localhost:8080');
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe('./data');
    expect(config.clients).toEqual([]);
  });

  test('a YAML file given as `file` overrides the defaults', () => {
    const file = tempFile('accouch.yaml', 'issuer: https://id.example.com\nport: 9000\ndataDir: /srv/accouch\n');
    const config = loadConfig({ env: {}, file });
    expect(config).toMatchObject({ issuer: 'https://id.example.com', port: 9000, dataDir: '/srv/accouch' });
  });

  test('ACCOUCH_CONFIG names the YAML file when no `file` is given', () => {
    const file = tempFile('accouch.yaml', 'port: 9001\n');
    expect(loadConfig({ env: { ACCOUCH_CONFIG: file } }).port).toBe(9001);
  });

  test('ACCOUCH_* environment variables override the YAML file, key by key', () => {
    const file = tempFile('accouch.yaml', 'port: 9000\ndataDir: /srv/accouch\nttl:\n  accessToken: 120\n');
    const config = loadConfig({ env: { ACCOUCH_CONFIG: file, ACCOUCH_PORT: '9100', ACCOUCH_TTL_ID_TOKEN: '600' } });
    expect(config.port).toBe(9100);
    expect(config.dataDir).toBe('/srv/accouch');
    expect(config.ttl.idToken).toBe(600);
    expect(config.ttl.accessToken).toBe(120);
  });

  // Environment order is whatever the process was started with: ACCOUCH_X_FILE must win either way.
  test.each([
    ['ACCOUCH_ISSUER before ACCOUCH_ISSUER_FILE', true],
    ['ACCOUCH_ISSUER_FILE before ACCOUCH_ISSUER', false],
  ])('ACCOUCH_*_FILE overrides the plain variable (%s)', (_label, plainFirst) => {
    const yaml = tempFile('accouch.yaml', 'issuer: https://from-yaml.example.com\n');
    const file = tempFile('issuer', 'https://from-file.example.com\n');
    const plain = ['ACCOUCH_ISSUER', 'https://from-env.example.com'] as const;
    const fromFile = ['ACCOUCH_ISSUER_FILE', file] as const;
    const env = Object.fromEntries(plainFirst ? [plain, fromFile] : [fromFile, plain]);
    expect(loadConfig({ env, file: yaml }).issuer).toBe('https://from-file.example.com');
  });

  test('port "0" (any free port) is allowed', () => {
    expect(loadConfig({ env: { ACCOUCH_PORT: '0' } }).port).toBe(0);
  });

  test('reports every bad key at once, each with its path', () => {
    const file = tempFile('accouch.yaml', [
      'issuer: ftp://id.example.com',
      'port: 70000',
      'colour: blue',
      'clients:',
      '  - id: nosecret',
      '    redirectUris: [https://a.example.com/cb]',
      '  - id: twice',
      `    secret: ${secret}`,
      '    redirectUris: [https://b.example.com/cb]',
      '  - id: twice',
      `    secret: ${secret}`,
      '    redirectUris: [https://c.example.com/cb]',
      '',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ env: { ACCOUCH_FOO: '1' }, file }));
    const has = (pattern: RegExp) => expect(problems.some((p) => pattern.test(p)), `${pattern} in\n${problems.join('\n')}`).toBe(true);
    has(/^issuer: /);
    has(/^port: /);
    has(/colour/);
    has(/^clients\.0\.secret: /);
    has(/^clients\.2\.id: .*duplicate/);
    has(/^ACCOUCH_FOO: /);
  });

  test('an unknown key is reported at its own path, top-level or inside a client', () => {
    const file = tempFile('accouch.yaml', [
      'colour: blue',
      'clients:',
      '  - id: app',
      `    secret: ${secret}`,
      '    redirectUris: [https://app.example.com/cb]',
      '    scope: openid',
      '',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^colour: /), expect.stringMatching(/^clients\.0\.scope: /)]));
  });

  test('an empty ACCOUCH_PORT is an error, not "any free port"', () => {
    expect(problemsOf(() => loadConfig({ env: { ACCOUCH_PORT: '' } }))).toEqual([expect.stringMatching(/^port: /)]);
  });

  test('an unknown ACCOUCH_ variable alone is an error, not silently ignored', () => {
    expect(problemsOf(() => loadConfig({ env: { ACCOUCH_PROT: '9000' } }))).toEqual([expect.stringMatching(/^ACCOUCH_PROT: /)]);
  });

  test('a client secretFile is read (trailing newline dropped)', () => {
    const secretFile = tempFile('grafana-secret', `${secret}\n`);
    const file = tempFile('accouch.yaml', [
      'clients:',
      '  - id: grafana',
      `    secretFile: ${secretFile}`,
      '    redirectUris: [https://grafana.example.com/login/generic_oauth]',
      '',
    ].join('\n'));
    expect(loadConfig({ env: {}, file }).clients[0]!.secret).toBe(secret);
  });

  test('a client secretFile that cannot be read is reported with its path', () => {
    const file = tempFile('accouch.yaml', [
      'clients:',
      '  - id: grafana',
      '    secretFile: /nonexistent/accouch/secret',
      '    redirectUris: [https://grafana.example.com/cb]',
      '',
    ].join('\n'));
    expect(problemsOf(() => loadConfig({ env: {}, file }))).toEqual([expect.stringMatching(/^clients\.0\.secretFile: .*ENOENT/)]);
  });

  test('ACCOUCH_DATABASE_URL_FILE switches to PostgreSQL with the URL from a mounted Secret', () => {
    const url = 'postgres://accouch:pa55word@db:5432/accouch';
    const config = loadConfig({ env: { ACCOUCH_DATABASE_URL_FILE: tempFile('database-url', `${url}\n`), ACCOUCH_SECRET_KEY: secret.repeat(2) } });
    expect(config.databaseUrl).toBe(url);
    expect(loadConfig({ env: {} }).databaseUrl).toBeUndefined();
  });

  test('a database URL that is not PostgreSQL is refused without echoing it, and PostgreSQL needs a shared secretKey', () => {
    const problems = problemsOf(() => loadConfig({ env: { ACCOUCH_DATABASE_URL: 'mysql://root:hunter2@db/accouch', ACCOUCH_PORT: 'x' } }));
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^databaseUrl: must be a postgres:\/\/ or postgresql:\/\/ URL/),
      expect.stringMatching(/^secretKey: required with databaseUrl/),
      expect.stringMatching(/^port: /),
    ]));
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  test.each(['https://id.example.com/', 'https://id.example.com', 'https://example.com/accouch'])(
    'the issuer %s is kept byte-exact',
    (issuer) => {
      expect(loadConfig({ env: { ACCOUCH_ISSUER: issuer } }).issuer).toBe(issuer);
    },
  );

  test('the returned configuration is frozen all the way down', () => {
    const file = tempFile('accouch.yaml', `clients:\n  - id: app\n    secret: ${secret}\n    redirectUris: [https://app.example.com/cb]\n`);
    const config = loadConfig({ env: {}, file });
    expect(() => { (config as { port: number }).port = 1; }).toThrow(TypeError);
    expect(() => { (config.ttl as { idToken: number }).idToken = 1; }).toThrow(TypeError);
    expect(() => { (config.clients as unknown[]).push({}); }).toThrow(TypeError);
    expect(() => { (config.clients[0] as { secret?: string }).secret = 'changed'; }).toThrow(TypeError);
    expect(config.port).toBe(8080);
  });
});
