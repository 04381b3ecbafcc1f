// The README's configuration reference is the one generated from the schema, and it names every key.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clientSchema, configSchema, envNameFor } from '../../src/config.js';
import { renderConfigReference, spliceReference } from '../../src/config-reference.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('configuration reference', () => {
  it('in README.md matches the schema', () => {
    expect(spliceReference(readme, renderConfigReference()), 'README.md configuration reference is stale: run `npm run docs`')
      .toBe(readme);
  });

  it('has a row for every schema key, with its environment variables', () => {
    const table = renderConfigReference();
    const paths = [
      ...Object.keys(configSchema.shape).map((key) => [key]),
      ...Object.keys(configSchema.shape.ttl.unwrap().shape).map((key) => ['ttl', key]),
    ];
    for (const path of paths) {
      expect(table, `row for ${path.join('.')}`).toContain(`| \`${path.join('.')}\` |`);
      const env = envNameFor(path);
      if (env) expect(table, `environment variables of ${path.join('.')}`).toContain(`\`${env}\`<br>\`${env}_FILE\``);
    }
    for (const key of Object.keys(clientSchema.shape)) expect(table, `row for clients[].${key}`).toContain(`| \`clients[].${key}\` | YAML only |`);
    expect(table).toContain('`ACCOUCH_CONFIG`');
    expect(envNameFor(['ttl', 'idToken'])).toBe('ACCOUCH_TTL_ID_TOKEN');
    expect(envNameFor(['clients'])).toBeUndefined();
  });
});
