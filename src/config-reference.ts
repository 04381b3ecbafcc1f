// The README's configuration reference, generated from the config schema so the two cannot drift apart.
// `npm run docs` rewrites the section between the markers; a unit test fails while it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { configSchema, envNameFor } from './config.js';

export const referenceStart = '<!-- config-reference:start -->';
export const referenceEnd = '<!-- config-reference:end -->';

const defaultReadme = new URL(import.meta.url.includes('/dist/') ? '../../README.md' : '../README.md', import.meta.url);

/** The subset of JSON Schema that zod emits for our schema. */
interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const code = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return `one of ${schema.enum.map(code).join(', ')}`;
  if (schema.type === 'array') return schema.items?.properties ? 'list of objects (below)' : `list of ${typeOf(schema.items ?? {})}s`;
  const type = [schema.type ?? 'any'].flat().join(' or ');
  const { minimum: min, maximum: max, minLength } = schema;
  // zod bounds every int at Number.MAX_SAFE_INTEGER: not worth printing.
  if (min !== undefined && max !== undefined && max < Number.MAX_SAFE_INTEGER) return `${type} (${min}..${max})`;
  if (min !== undefined) return `${type} (>= ${min})`;
  if (minLength === 1) return `non-empty ${type}`;
  if (minLength) return `${type} (>= ${minLength} chars)`;
  return type;
}

const units: Array<[number, string]> = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];

function humanSeconds(seconds: number): string {
  const [size, name] = units.find(([size]) => seconds % size === 0) ?? [1, 'second'];
  const count = seconds / size;
  return `${count} ${name}${count === 1 ? '' : 's'}`;
}

function defaultOf(path: string[], schema: JsonSchema, required: boolean): string {
  // A group whose keys all have defaults is not itself required.
  if (schema.default === undefined) return required && !schema.properties ? 'required' : '';
  // The ttl group is documented as seconds; spell the bigger ones out.
  if (path[0] === 'ttl' && typeof schema.default === 'number' && schema.default >= 60) {
    return `${code(schema.default)} (${humanSeconds(schema.default)})`;
  }
  return code(schema.default);
}

function envOf(path: string[]): string {
  if (path[0] === 'clients' || path[0] === 'upstreams' || path[0] === 'forwardAuth') return 'YAML only';
  const name = envNameFor(path);
  return name ? `\`${name}\`<br>\`${name}_FILE\`` : '';
}

/** One row per key: the group itself, then its children (`ttl.*`, `clients[].*`). */
function rows(properties: Record<string, JsonSchema>, required: string[], parent: string[], label: string): string[] {
  return Object.entries(properties).flatMap(([key, schema]) => {
    const path = [...parent, key];
    const name = `${label}${key}`;
    const row = `| \`${name}\` | ${envOf(path)} | ${cell(typeOf(schema))} | ${cell(defaultOf(path, schema, required.includes(key)))} | ${cell(schema.description ?? '')} |`;
    const nested = schema.items?.properties ? { schema: schema.items, label: `${name}[].` }
      : schema.properties ? { schema, label: `${name}.` } : undefined;
    if (!nested) return [row];
    return [row, ...rows(nested.schema.properties!, nested.schema.required ?? [], path, nested.label)];
  });
}

/** The configuration reference as a Markdown table: key, environment variable, type, default, description. */
export function renderConfigReference(): string {
  // Output types: what the value becomes (trustProxy is a boolean even though the environment spells it as text).
  const schema = configSchema.toJSONSchema({ io: 'output', unrepresentable: 'any' }) as JsonSchema;
  return [
    '| Key | Environment | Type | Default | Description |',
    '| --- | --- | --- | --- | --- |',
    '| | `ACCOUCH_CONFIG` | path | | YAML configuration file to read (environment only) |',
    ...rows(schema.properties ?? {}, schema.required ?? [], [], ''),
  ].join('\n') + '\n';
}

/** Replaces whatever sits between the reference markers in `readme` with `table`. */
export function spliceReference(readme: string, table: string): string {
  const start = readme.indexOf(referenceStart);
  const end = readme.indexOf(referenceEnd);
  if (start === -1 || end < start) throw new Error(`README needs ${referenceStart} followed by ${referenceEnd}`);
  return `${readme.slice(0, start + referenceStart.length)}\n\n${table}\n${readme.slice(end)}`;
}

/** Rewrites the README's reference section; returns whether anything changed. */
export function writeReadme(file: URL | string = defaultReadme): boolean {
  const readme = readFileSync(file, 'utf8');
  const updated = spliceReference(readme, renderConfigReference());
  if (updated === readme) return false;
  writeFileSync(file, updated);
  return true;
}

if (import.meta.main) {
  console.log(writeReadme() ? 'README.md: configuration reference updated' : 'README.md: configuration reference already up to date');
}
