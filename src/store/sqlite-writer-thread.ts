// The SQLite writer thread: the one connection that writes, so that no fsync ever runs on the server's event loop.
// Statements are executed in arrival order inside one open transaction (a "group"); the group commits, with one
// fsync, as soon as somebody waits for durability, so concurrent requests share a commit (group commit). A request
// that wrote into the open group holds its commit until it settles too (at most `maxHoldMs` after the group
// opened): its writes then go to disk together, never half in one commit and half in a later one that fails.
// Self-contained (no project imports): it is loaded by path from src/ in tests and from dist/ in production.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/**
 * A message from the main thread. `tx` 0 is no explicit transaction; `durable` asks for the reply after the commit;
 * `scope` names the request a statement belongs to (0: none), which holds the group's commit until it syncs;
 * `unanswered`: nobody waits for the reply, the scope's sync reports the statement's failure.
 */
export type WriterCall =
  | { op: 'run'; sql: string; params: unknown[]; tx: number; durable: boolean; scope: number; unanswered?: boolean }
  | { op: 'begin' | 'commit' | 'rollback'; tx: number; durable: boolean; scope: number }
  | { op: 'sync'; group: number; scope: number; tx?: undefined }
  | { op: 'probe'; tx?: undefined }
  | { op: 'close'; tx?: undefined };
export type WriterRequest = WriterCall & { id: number };

/** The answer to one request; `group` is the transaction group the statement ran in. */
export interface WriterReply {
  id: number;
  group: number;
  wrote?: boolean;
  rows?: unknown[];
  changes?: number;
  lastInsertRowid?: number | bigint;
  error?: { message: string; code?: string | undefined };
}

const port = parentPort!;
/** `maxHoldMs`: how long requests that wrote may hold the open group's commit while they finish (the latency it may add). */
const { file, maxHoldMs } = workerData as { file: string; maxHoldMs: number };
const db = new SQLite(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');

const statements = new Map<string, SQLite.Statement>();
function prepare(source: string): SQLite.Statement {
  let statement = statements.get(source);
  if (!statement) {
    statement = db.prepare(source);
    if (statements.size >= 500) statements.delete(statements.keys().next().value!);
    statements.set(source, statement);
  }
  return statement;
}


let group = 0; // the current (or last) group
let open = false; // whether group's transaction is open
let openedAt = 0; // when it opened (performance.now())
const holders = new Set<number>(); // request scopes that wrote into the open group and have not synced yet
const lastWrite = new Map<number, number>(); // per request scope that has not synced yet, the last group it wrote into
const unansweredFailures = new Map<number, WriterReply['error']>(); // per scope, the first failure of a write nobody awaited
let committed = 0; // every group up to this one is settled (committed or failed)
const failed = new Map<number, WriterReply['error']>();
let activeTx = 0; // an explicit transaction runs alone: other requests wait until it ends
let deferred: WriterReply[] = []; // replies that go out once the current group is on disk
const queue: WriterRequest[] = [];
let idleCommit: NodeJS.Timeout | undefined;
let closing: WriterRequest | undefined;
let lastFailure: WriterReply['error']; // of the last group, until one commits again

// Replies go back together, once per pass over the queue (a microtask after it): one wake-up of the main thread.
let outbox: WriterReply[] = [];
const flush = () => {
  const batch = outbox;
  outbox = [];
  port.postMessage(batch);
};
const post = (reply: WriterReply) => {
  if (outbox.push(reply) === 1) queueMicrotask(flush);
};
const errorOf = (error: unknown): WriterReply['error'] => ({
  message: (error as Error).message ?? String(error), code: (error as { code?: string }).code,
});

function openGroup(): void {
  if (open) return;
  db.exec('BEGIN IMMEDIATE');
  open = true;
  openedAt = performance.now();
  group += 1;
}

/** The group's transaction is gone (SQLite rolled it back: disk full, I/O error): everything waiting on it fails. */
function failGroup(error: unknown): void {
  if (db.inTransaction) db.exec('ROLLBACK');
  open = false;
  holders.clear();
  activeTx = 0;
  const reason = errorOf(error);
  failed.set(group, reason);
  lastFailure = reason;
  if (failed.size > 1000) failed.delete(failed.keys().next().value!);
  committed = group;
  for (const reply of deferred) post({ id: reply.id, group: reply.group, error: reason });
  deferred = [];
}

function commit(): void {
  if (!open) return;
  try {
    db.exec('COMMIT');
  } catch (error) {
    failGroup(error);
    return;
  }
  open = false;
  holders.clear();
  committed = group;
  lastFailure = undefined;
  for (const reply of deferred) post(reply);
  deferred = [];
}

function handle(request: WriterRequest): void {
  const { id } = request;
  try {
    switch (request.op) {
      case 'run': {
        openGroup();
        const statement = prepare(request.sql);
        const wrote = !statement.readonly;
        if (wrote && request.scope) {
          holders.add(request.scope);
          lastWrite.set(request.scope, group);
        }
        const reply: WriterReply = statement.reader
          ? { id, group, wrote, rows: statement.all(request.params) }
          : { id, group, wrote, ...statement.run(request.params) };
        if (request.unanswered) return;
        if (request.durable && wrote && !request.tx) deferred.push(reply);
        else post(reply);
        return;
      }
      case 'begin':
        openGroup();
        db.exec(`SAVEPOINT t${request.tx}`);
        activeTx = request.tx;
        post({ id, group });
        return;
      case 'commit':
        activeTx = 0;
        db.exec(`RELEASE t${request.tx}`);
        if (request.durable) deferred.push({ id, group, wrote: true });
        else post({ id, group, wrote: true });
        return;
      case 'rollback':
        activeTx = 0;
        // The savepoint is gone if the whole group failed meanwhile: nothing is left to undo then.
        if (open && db.inTransaction) {
          db.exec(`ROLLBACK TO t${request.tx}`);
          db.exec(`RELEASE t${request.tx}`);
        }
        post({ id, group });
        return;
      case 'sync': {
        holders.delete(request.scope);
        const target = Math.max(request.group, lastWrite.get(request.scope) ?? 0);
        lastWrite.delete(request.scope);
        const reason = unansweredFailures.get(request.scope) ?? failed.get(target);
        unansweredFailures.delete(request.scope);
        if (reason) post({ id, group: target, error: reason });
        else if (target <= committed || !open) post({ id, group: target });
        else deferred.push({ id, group: target });
        return;
      }
      case 'close':
        closing = request;
        return;
      case 'probe':
        // Can this connection take the write lock, and, after a failed commit, write again?
        if (!open) {
          db.exec('BEGIN IMMEDIATE');
          if (lastFailure) {
            db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true }))}`);
            db.exec('COMMIT');
            lastFailure = undefined;
          } else {
            db.exec('ROLLBACK');
          }
        }
        post(lastFailure ? { id, group, error: lastFailure } : { id, group });
        return;
    }
  } catch (error) {
    if (request.op === 'run' && request.unanswered) {
      if (!unansweredFailures.has(request.scope)) unansweredFailures.set(request.scope, errorOf(error));
      if (unansweredFailures.size > 1000) unansweredFailures.delete(unansweredFailures.keys().next().value!);
    } else {
      post({ id, group, error: errorOf(error) });
    }
    // A statement error leaves the transaction open (SQLite undoes that statement only); some errors end it.
    if (open && !db.inTransaction) failGroup(error);
  }
}

function next(): WriterRequest | undefined {
  for (let message = receiveMessageOnPort(port); message; message = receiveMessageOnPort(port)) queue.push(...(message.message as WriterRequest[]));
  const index = activeTx ? queue.findIndex((r) => r.tx === activeTx) : 0;
  return index < 0 ? undefined : queue.splice(index, 1)[0];
}

/** Whether requests that wrote into the open group may still hold its commit (none left, or held long enough: no). */
const held = () => holders.size > 0 && !closing && performance.now() - openedAt < maxHoldMs;

function drain(): void {
  scheduled = false;
  for (;;) {
    for (let request = next(); request; request = next()) handle(request);
    if (!open || activeTx) break;
    if ((deferred.length || closing) && !held()) {
      commit();
      continue; // what arrived during the fsync is the next group
    }
    // Writes nobody waits for yet, or that requests still running hold: committed when they settle, or soon anyway
    // (a request that failed before settling lets go at maxHoldMs).
    clearTimeout(idleCommit);
    idleCommit = setTimeout(() => {
      if (!activeTx && open && !held()) commit();
      else if (open) schedule();
    }, held() ? Math.max(1, maxHoldMs - (performance.now() - openedAt)) : maxHoldMs);
    break;
  }
  if (closing && !open && !activeTx) {
    clearTimeout(idleCommit);
    db.close();
    post({ id: closing.id, group });
    flush();
    port.close();
  }
}

let scheduled = false;
function schedule(): void {
  if (!scheduled) {
    scheduled = true;
    setImmediate(drain);
  }
}
port.on('message', (batch: WriterRequest[]) => {
  queue.push(...batch);
  schedule();
});
port.postMessage([{ id: 0, group: 0 }] satisfies WriterReply[]);
