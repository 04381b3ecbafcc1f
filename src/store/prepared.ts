// Hot queries compiled once per engine instead of built and compiled by kysely on every call (on a token request
// that was a tenth of the CPU): the builder runs once with placeholder arguments, and each call sends the SQL
// text it made with the call's values in the placeholders' places. The drivers then reuse their prepared statement.
// On the embedded database the statement also skips kysely's executor (store/db.ts directQueryOf).
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import { directQueryOf } from './db.js';
import type { Database } from './schema.js';
import type { UnusedResultQuery } from './sqlite-writer.js';

interface Template {
  sql: string;
  /** Per SQL parameter: the index of the call argument that fills it, or a constant the builder put there. */
  fill: Array<number | { constant: unknown }>;
}

const placeholder = (i: number) => `\u0000accouch-arg-${i}\u0000`;

/**
 * `build(db, ...args)` must use each argument as a value only (a bound parameter, never an identifier or part of
 * the SQL text), and return the same query shape whatever the values: the SQL is made once per engine.
 * `resultUnused`: a write whose callers never read its result (no row count, no returned rows); inside a request
 * the embedded database then sends it without waiting, and a failure is the request's settle's (sqlite-writer.ts).
 * `cacheable`: a read whose callers never change its rows; the embedded database may answer it again with the same
 * (frozen) rows until something is committed (sqlite-writer.ts ReadCache).
 */
export function prepared<Args extends unknown[], Row>(
  arity: Args['length'],
  build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>,
  { resultUnused = false, cacheable = false } = {},
) {
  const templates = new Map<unknown, Template>();
  const templateFor = (db: Kysely<Database>): Template => {
    // SQLite and PostgreSQL write the same query differently: one template per adapter class.
    const engine = db.getExecutor().adapter.constructor;
    let template = templates.get(engine);
    if (!template) {
      const slots = Array.from({ length: arity }, (_, i) => placeholder(i));
      const { sql, parameters } = build(db, ...(slots as unknown as Args)).compile();
      const fill = parameters.map((p) => (typeof p === 'string' && slots.includes(p) ? slots.indexOf(p) : { constant: p }));
      const used = new Set(fill.filter((f) => typeof f === 'number'));
      if (used.size !== arity) throw new Error(`a prepared query uses ${used.size} of its ${arity} arguments as values: ${sql}`);
      template = { sql, fill };
      templates.set(engine, template);
    }
    return template;
  };
  return async (db: Kysely<Database>, ...args: Args): Promise<QueryResult<Row>> => {
    const { sql, fill } = templateFor(db);
    const parameters = fill.map((f) => (typeof f === 'number' ? args[f] : f.constant));
    const direct = directQueryOf(db);
    if (direct) return direct<Row>({ sql, parameters, resultUnused, cacheable });
    const query = CompiledQuery.raw(sql, parameters);
    return db.executeQuery<Row>(resultUnused ? { ...query, resultUnused } as UnusedResultQuery : query);
  };
}
