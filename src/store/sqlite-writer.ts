// The kysely dialect of the embedded database: reads run on this thread's read-only connection (WAL lets them
// go on while a commit waits for the disk), writes and transactions go to the writer thread
// (sqlite-writer-thread.ts), which commits them in groups. Inside a request scope (RequestWrites.run) a write
// is acknowledged once executed and the request settles once, before it answers: one fsync per request at most.
// A write whose result its caller does not use (`resultUnused`, store/prepared.ts) is acknowledged as soon as it is
// sent: the request's next message to the writer (a read of its own writes, its settle) comes after it in order,
// and its failure is the settle's.
import { AsyncLocalStorage } from 'node:async_hooks';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult,
} from 'kysely';
import { AppError } from '../errors.js';
import type { WriterCall, WriterReply, WriterRequest } from './sqlite-writer-thread.js';

/** How the HTTP layer makes a request's writes durable before its answer. */
export interface RequestWrites {
  /**
   * Runs `work` as one request: its writes are acknowledged once executed, their commit awaited by settle(); its
   * reads see every commit made before it started.
   */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Resolves once every write of the current request is on disk; rejects (503 `unavailable`) if one was lost. */
  settle(): Promise<void>;
  /** The storage failure a write of the current request met (disk full, I/O error), if any. */
  failure(): AppError | undefined;
  /** Resolves if the database can take writes now; rejects with why not (for /readyz). */
  writable(): Promise<void>;
}

interface Scope {
  /** Names the request to the writer thread, where its writes hold the group's commit until it syncs. */
  id: number;
  /** The last group a write of the request was acknowledged in (the writer knows about unanswered ones). */
  group: number;
  /** Wrote since the last sync it sent. */
  dirty: boolean;
  /** Of those writes, one may have changed a table other than oidc_payloads (readsOwnWrites). */
  wide: boolean;
  /** Writes sent so far: one sent while a settle waits makes the request dirty again. */
  writes: number;
  failure?: AppError | undefined;
}

/** A compiled query whose caller ignores the result: in a request scope it is sent without waiting for the writer. */
export interface UnusedResultQuery extends CompiledQuery {
  resultUnused?: boolean;
  /**
   * A read whose rows its callers only read (they map them to objects of their own): its rows may be answered again,
   * frozen, to the same statement with the same values as long as nothing was committed meanwhile (ReadCache).
   */
  cacheable?: boolean;
}

/**
 * A statement that changes oidc_payloads alone: no other table holds a foreign key to it, and no trigger or view
 * is defined on it (a test holds the schema to that), so a read that names no oidc_payloads cannot see its effect.
 */
const payloadsOnlyWrite = /^\s*(insert\s+(or\s+\w+\s+)?into|update|delete\s+from)\s+"oidc_payloads"\s/i;

/**
 * Whether a read in `scope` must go to the writer thread, to see the request's own writes before they are
 * committed: after a write to oidc_payloads alone (every token endpoint's), only a read of oidc_payloads; after any
 * other write, every read. The rest read committed rows on this thread, as they did before the request wrote.
 * Such a request reads other tables as committed while another request's change there may sit in the open group
 * (a user disabled meanwhile is seen when that commits, up to the hold plus an fsync later): the same as had it read
 * them just before that change was made, which it could have done anyway.
 */
function readsOwnWrites(scope: Scope | undefined, sql: string): boolean {
  return scope !== undefined && scope.dirty && (scope.wide || /oidc_payloads/i.test(sql));
}

/** Rows kept per statement and values at most, between two commits. */
const readCacheEntries = 2000;

/**
 * The rows of reads answered since the database last changed. A commit by any other connection (the writer
 * thread, another process) changes the read connection's `PRAGMA data_version`, and empties the cache.
 *
 * The version is checked once per turn of the event loop rather than once per read (a request makes four or five
 * reads; each check costs about a third of a read): the check stands until the loop's next turn, the start of the
 * next request, the writer's next answer, or the next uncached read, whichever comes first. Nothing can tell this
 * process of a commit without one of those (another process's commit reaches it through a request; the writer's,
 * through its answer), so a cached answer is never older than what the read would have returned when this
 * request or turn began, nor than any answer given before it.
 */
class ReadCache {
  #version: SQLite.Statement;
  #seen: unknown;
  #checked = false;
  /** Per statement source (the same string object on every call: its hash is computed once), rows per values. */
  #rows = new Map<string, Map<unknown, unknown[]>>();
  #entries = 0;

  constructor(reader: SQLite.Database) {
    this.#version = reader.prepare('PRAGMA data_version').pluck();
  }

  /** The next cached read checks the version again. */
  readonly stale = (): void => {
    this.#checked = false;
  };

  /** The statement's rows for `parameters`, from the cache when nothing was committed since they were read. */
  all(statement: SQLite.Statement, source: string, parameters: readonly unknown[]): unknown[] {
    if (!this.#checked) {
      // Read before the rows: a commit in between empties the cache next time (rows newer than the version are harmless).
      const version = this.#version.get();
      if (version !== this.#seen) {
        this.#seen = version;
        this.#forget();
      }
      this.#checked = true;
      setImmediate(this.stale);
    }
    if (!parameters.every((p) => p === null || typeof p === 'string' || typeof p === 'number')) return statement.all(parameters);
    // One value is its own key (a Map tells 1, '1' and null apart); several are keyed by their JSON.
    const key = parameters.length === 1 ? parameters[0] : JSON.stringify(parameters);
    let byValues = this.#rows.get(source);
    let rows = byValues?.get(key);
    if (!rows) {
      rows = Object.freeze((statement.all(parameters) as object[]).map((row) => Object.freeze(row))) as unknown[];
      if (this.#entries >= readCacheEntries) this.#forget();
      if (!byValues || !this.#rows.has(source)) this.#rows.set(source, byValues = new Map());
      byValues.set(key, rows);
      this.#entries += 1;
    }
    return rows;
  }

  #forget(): void {
    this.#rows = new Map();
    this.#entries = 0;
  }
}

/** SQLite result codes that say the disk, not the statement, is at fault. */
const storageCodes = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|NOTADB|CORRUPT)/;

/** A write that could not be made durable: a 503 with a message the user can act on. */
export function storageFailure(cause: unknown): AppError {
  // SQLITE_FULL, or PostgreSQL's disk_full (pg-storage.ts).
  const full = /FULL|^53100$/.test((cause as { code?: string }).code ?? '');
  return new AppError('unavailable', full
    ? 'The server cannot save anything right now: its disk is full. Nothing was changed; try again once space is freed.'
    : 'The server cannot save anything right now: its database cannot be written. Nothing was changed; try again later.',
  { cause, expose: true });
}

/** Below this much free space a commit may fail half-way through growing the log: not ready. */
const minFreeBytes = 256 * 1024;

const isStorageCode = (code: string | undefined) => code !== undefined && storageCodes.test(code);

/** Rows cloned from the writer thread carry Uint8Array where better-sqlite3 gives Buffer. */
function toBuffers(rows: unknown[]): unknown[] {
  for (const row of rows as Array<Record<string, unknown>>) {
    for (const key in row) {
      const value = row[key];
      if (value instanceof Uint8Array && !Buffer.isBuffer(value)) row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return rows;
}

class WriterDriver implements Driver {
  readonly scopes = new AsyncLocalStorage<Scope>();
  #reader: SQLite.Database | undefined;
  #statements = new Map<string, SQLite.Statement>();
  #cache: ReadCache | undefined;
  #worker: Worker | undefined;
  #pending = new Map<number, { resolve: (reply: WriterReply) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #nextTx = 1;

  /** Started at once, so that the thread starts up while the caller goes on (loading the server's modules). */
  readonly #ready: Promise<void>;

  constructor(readonly file: string, readonly maxHoldMs: number) {
    this.#ready = this.#start();
    this.#ready.catch(() => undefined); // init() reports it
  }

  init(): Promise<void> {
    return this.#ready;
  }

  async #start(): Promise<void> {
    const worker = new Worker(new URL(`./sqlite-writer-thread.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url), {
      workerData: { file: this.file, maxHoldMs: this.maxHoldMs },
      // The thread only passes statements and rows along: a small young generation keeps its idle memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    worker.on('message', (replies: WriterReply[]) => {
      this.#cache?.stale(); // the writer may have committed since the last check: what it answers follows that commit
      for (const reply of replies) this.#answer(reply);
    });
    worker.on('error', (error) => this.#failAll(error));
    worker.on('exit', () => this.#failAll(new Error('the database writer thread stopped')));
    worker.unref();
    this.#worker = worker;
    // Opened after the writer so that the file is in WAL mode; query_only makes a write that strays here fail loudly.
    this.#reader = new SQLite(this.file, { fileMustExist: true });
    this.#reader.pragma('query_only = ON');
    // The writer's settings, so that a PRAGMA read here tells how the database is run.
    for (const setting of ['synchronous = FULL', 'foreign_keys = ON', 'busy_timeout = 5000']) this.#reader.pragma(setting);
    this.#cache = new ReadCache(this.#reader);
  }

  /** Runs a read on the read connection; a cacheable one may be answered from the rows read since the last commit. */
  read(statement: SQLite.Statement, compiled: Pick<UnusedResultQuery, 'sql' | 'parameters' | 'cacheable'>): unknown[] {
    if (compiled.cacheable) return this.#cache!.all(statement, compiled.sql, compiled.parameters);
    const rows = statement.all(compiled.parameters);
    this.#cache!.stale(); // a cached read after it is never older than it
    return rows;
  }

  /** A request starts: its first cached read checks for commits made before it (ReadCache). */
  requestStarts(): void {
    this.#cache?.stale();
  }

  #answer(reply: WriterReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (!this.#pending.size) this.#worker?.unref();
    if (reply.error) {
      const error = Object.assign(new Error(reply.error.message), { code: reply.error.code });
      pending.reject(isStorageCode(reply.error.code) ? storageFailure(error) : error);
    } else {
      pending.resolve(reply);
    }
  }

  #failAll(error: Error): void {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#worker = undefined;
  }

  /**
   * Messages to the writer go out together once per turn of the event loop: a postMessage wakes the thread, and
   * waking it once for every request served in that turn costs far less than once per statement.
   */
  #outbox: WriterRequest[] = [];
  #flush = () => {
    const batch = this.#outbox;
    this.#outbox = [];
    this.#worker?.postMessage(batch);
  };
  #send(request: WriterRequest): void {
    if (this.#outbox.push(request) === 1) setImmediate(this.#flush);
  }

  /** Sends a write nobody waits for (its scope's settle reports its failure); false if the thread is gone. */
  post(request: WriterCall): boolean {
    if (!this.#worker) return false;
    this.#send({ ...request, id: 0 });
    return true;
  }

  /** Sends a request to the writer thread; the thread keeps the process alive only while an answer is awaited. */
  call(request: WriterCall): Promise<WriterReply> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(new Error('the database is closed'));
    const id = this.#nextId++;
    if (!this.#pending.size) worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send({ ...request, id });
    });
  }

  /** A prepared statement on the read connection, or undefined when it would write (or cannot be prepared yet). */
  readStatement(source: string): SQLite.Statement | undefined {
    let statement = this.#statements.get(source);
    if (!statement) {
      try {
        statement = this.#reader!.prepare(source);
      } catch {
        return undefined; // e.g. a table a migration creates on the writer: the writer prepares it, or says why not
      }
      if (this.#statements.size >= 500) this.#statements.delete(this.#statements.keys().next().value!);
      this.#statements.set(source, statement);
    }
    return statement.readonly ? statement : undefined;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new WriterConnection(this);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as WriterConnection;
    c.tx = this.#nextTx++;
    await c.send({ op: 'begin', tx: c.tx });
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as WriterConnection).end('commit');
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as WriterConnection).end('rollback');
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    await this.#ready.catch(() => undefined);
    // The reader first: the last connection to close checkpoints the log and removes it, and that takes a writer.
    this.#statements.clear();
    this.#reader?.close();
    const worker = this.#worker;
    if (worker) {
      await this.call({ op: 'close' });
      await worker.terminate();
    }
    this.#worker = undefined;
  }
}

class WriterConnection implements DatabaseConnection {
  tx = 0;

  constructor(readonly driver: WriterDriver) {}

  /** Sends a write or transaction step; in a request scope it is not waited on until the request settles. */
  async send(request: { op: 'run'; sql: string; params: unknown[] } | { op: 'begin' | 'commit' | 'rollback'; tx: number }): Promise<WriterReply> {
    const scope = this.driver.scopes.getStore();
    try {
      const reply = await this.driver.call({ ...request, tx: this.tx, durable: !scope, scope: scope?.id ?? 0 });
      if (scope && reply.wrote) {
        scope.group = Math.max(scope.group, reply.group);
        scope.dirty = true;
        scope.wide ||= request.op !== 'run' || !payloadsOnlyWrite.test(request.sql);
        scope.writes += 1;
      }
      return reply;
    } catch (error) {
      if (scope && error instanceof AppError && error.code === 'unavailable') scope.failure ??= error;
      throw error;
    }
  }

  /** Ends this connection's transaction either way; the connection is back to plain statements after. */
  async end(op: 'commit' | 'rollback'): Promise<void> {
    try {
      await this.send({ op, tx: this.tx });
    } finally {
      this.tx = 0;
    }
  }

  async executeQuery<R>(compiled: Pick<UnusedResultQuery, 'sql' | 'parameters' | 'resultUnused' | 'cacheable'>): Promise<QueryResult<R>> {
    const { sql, parameters } = compiled;
    const scope = compiled.resultUnused && !this.tx ? this.driver.scopes.getStore() : undefined;
    if (scope && this.driver.post({ op: 'run', sql, params: parameters as unknown[], tx: 0, durable: false, scope: scope.id, unanswered: true })) {
      scope.dirty = true;
      scope.wide ||= !payloadsOnlyWrite.test(sql);
      scope.writes += 1;
      return { rows: [] };
    }
    // A request reads its own writes on the writer until they are committed; everything else reads here.
    const local = !this.tx && !readsOwnWrites(this.driver.scopes.getStore(), sql) ? this.driver.readStatement(sql) : undefined;
    if (local) return { rows: (local.reader ? this.driver.read(local, compiled) : (local.run(parameters), [])) as R[] };
    const reply = await this.send({ op: 'run', sql, params: parameters as unknown[] });
    if (reply.rows) return { rows: toBuffers(reply.rows) as R[] };
    return {
      rows: [],
      numAffectedRows: reply.changes === undefined ? undefined : BigInt(reply.changes),
      insertId: reply.lastInsertRowid === undefined ? undefined : BigInt(reply.lastInsertRowid),
    };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on SQLite');
  }
}

class WriterDialect implements Dialect {
  constructor(readonly driver: WriterDriver) {}
  createDriver(): Driver {
    return this.driver;
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }
  createAdapter() {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<any>) {
    return new SqliteIntrospector(db);
  }
}

/** How long a request that wrote may hold its group's commit while it finishes: the most latency it adds to others. */
export const defaultMaxHoldMs = 25;

/** Runs one compiled statement outside any transaction, as kysely would on a fresh connection. */
export type DirectQuery = <R>(query: Pick<UnusedResultQuery, 'sql' | 'parameters' | 'resultUnused' | 'cacheable'>) => Promise<QueryResult<R>>;

/**
 * The dialect over `file` (created and in WAL mode already), the request scopes of its writes, and `query`: the hot
 * statements' way past kysely's executor (store/prepared.ts). Kysely acquires, tracks and releases a connection
 * through several async steps per statement; on a token request that allocated more than the statements did.
 */
export function createWriterDialect(file: string, { maxHoldMs = defaultMaxHoldMs } = {}): { dialect: Dialect; writes: RequestWrites; query: DirectQuery } {
  const driver = new WriterDriver(file, maxHoldMs);
  // Only once kysely has started the driver (store/db.ts openSqlite sees to it): kysely's destroy() closes a driver
  // it started, and only one.
  const query: DirectQuery = (compiled) => new WriterConnection(driver).executeQuery(compiled);
  const { scopes } = driver;
  let nextScope = 1;
  const writes: RequestWrites = {
    async run(work) {
      driver.requestStarts();
      const scope: Scope = { id: nextScope++, group: 0, dirty: false, wide: false, writes: 0 };
      try {
        return await scopes.run(scope, work);
      } finally {
        // A request that failed before it settled lets go of the group it wrote into (its writes are committed
        // with the others, as they were before a failure made it give up).
        if (scope.dirty) {
          scope.dirty = false;
          driver.call({ op: 'sync', group: scope.group, scope: scope.id }).catch(() => undefined);
        }
      }
    },
    async settle() {
      const scope = scopes.getStore();
      if (!scope) return;
      if (scope.failure) throw scope.failure;
      if (!scope.dirty) return;
      const { group, writes } = scope;
      scope.dirty = false;
      scope.wide = false; // a write made meanwhile says again what it changed
      try {
        await driver.call({ op: 'sync', group, scope: scope.id });
        scope.dirty = scope.writes > writes; // a write made meanwhile waits for the next settle
      } catch (error) {
        // A statement's own failure (a write sent without waiting broke a constraint) is a bug, not the disk's.
        if (!(error instanceof AppError) && /^SQLITE_/.test((error as { code?: string }).code ?? '')) throw error;
        scope.failure = error instanceof AppError ? error : storageFailure(error);
        throw scope.failure;
      }
    },
    failure: () => scopes.getStore()?.failure,
    async writable() {
      const { bavail, bsize } = await statfs(dirname(file));
      if (bavail * bsize < minFreeBytes) throw storageFailure(Object.assign(new Error('no space left on the device'), { code: 'SQLITE_FULL' }));
      await driver.call({ op: 'probe' });
    },
  };
  return { dialect: new WriterDialect(driver), writes, query };
}
