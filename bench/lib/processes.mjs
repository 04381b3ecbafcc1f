// The processes a bench run starts (Accouch, the bare engine, helpers): spawn on loopback, time to ready,
// memory from /proc, and a registry that stops every one of them by pid, also when the run fails.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');
export const mainJs = join(root, 'dist', 'src', 'main.js');

const running = new Set();

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }).once('error', reject);
  });
}

/** One GET on a fresh connection; resolves with the status code, rejects when nothing listens. */
function probe(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * Spawns `node <args>` (or `executable <args>`) with its output in `logFile` (the child writes there itself, so a
 * chatty server costs the load generator nothing) and waits until GET `readyPath` answers 200. Returns the process
 * handle and the milliseconds from spawn to that first 200.
 */
export async function startProcess({ name, args, env, port, readyPath, logFile, nodeFlags = [], executable = process.execPath, cwd = root }) {
  const out = openSync(logFile, 'a');
  const started = performance.now();
  const child = spawn(executable, [...nodeFlags, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', out, out], cwd });
  closeSync(out);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const handle = { name, child, pid: child.pid, port, logFile, exited, readyMs: 0 };
  running.add(handle);
  exited.then(() => running.delete(handle));
  const deadline = started + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited before it was ready:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    try {
      if ((await probe(port, readyPath)) === 200) break;
    } catch { /* not listening yet: poll again */ }
    if (performance.now() > deadline) {
      await stopProcess(handle);
      throw new Error(`${name} was not ready within 30 s:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  handle.readyMs = performance.now() - started;
  return handle;
}

/** SIGTERM (the server drains and exits; --cpu-prof writes its profile then); SIGKILL after 15 s. */
export async function stopProcess(handle) {
  if (handle.child.exitCode !== null || handle.child.signalCode !== null) return handle.exited;
  handle.child.kill('SIGTERM');
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), 15_000);
  const code = await handle.exited;
  clearTimeout(timer);
  return code;
}

/** Stops everything still running (the error path). */
export async function stopAll() {
  await Promise.all([...running].map((h) => stopProcess(h)));
}

/** VmRSS (current) and VmHWM (peak since start) of a process, in MiB. */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuSecondsOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A server's CPU seconds so far: its process's, or with `pids` (a server of several processes) all of theirs. */
export function serverCpuSeconds(pid, pids) {
  if (!pids) return cpuSecondsOf(pid);
  return pids().reduce((sum, p) => {
    try {
      return sum + cpuSecondsOf(p);
    } catch {
      return sum; // ended between listing and reading
    }
  }, 0);
}

/**
 * CPU seconds per kind of thread of a process so far (/proc/<pid>/task): the event loop ('main'), worker threads
 * ('worker': Accouch's SQLite writer), libuv's pool ('pool': crypto, scrypt) and V8's helpers ('v8': GC, compiler).
 */
export function threadCpuOf(pid) {
  const out = { main: 0, worker: 0, pool: 0, v8: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kind = tid === String(pid) ? 'main' : name === 'WorkerThread' ? 'worker' : name.startsWith('libuv-worker') ? 'pool' : name.startsWith('V8') ? 'v8' : 'other';
    out[kind] += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return out;
}

/** Samples VmRSS every `everyMs` until stopped; `stop()` returns the highest sample in MiB. */
export function sampleRss(pid, everyMs = 50) {
  let peak = memoryOf(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(pid).rss);
    } catch { /* the process ended */ }
  }, everyMs);
  return { stop() { clearInterval(timer); return peak; } };
}

/** Runs the Accouch CLI against a data dir (synchronously, like an operator in a shell). */
export function runCli(env, args, input) {
  const result = spawnSync(process.execPath, [mainJs, ...args], { env: { PATH: process.env.PATH, ...env }, input, encoding: 'utf8', timeout: 60_000, cwd: root });
  if (result.status !== 0) throw new Error(`accouch ${args.slice(0, 3).join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** Runs `node <argv>` to completion (tracked, so stopAll ends it) and returns its stdout; `label` names it in errors. */
function runToEnd(argv, env, input, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'], cwd: root });
    const handle = { name: label, child, pid: child.pid, exited: new Promise((r) => child.once('exit', r)) };
    running.add(handle);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('exit', (code) => {
      running.delete(handle);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${label} failed (${code}): ${stderr.slice(-3000)}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** The CLI, asynchronously, so several CLI processes can run side by side. */
export const runCliAsync = (env, args, input) => runToEnd([mainJs, ...args], env, input, `accouch ${args.slice(0, 3).join(' ')}`);

/** Runs a node script to completion and returns its stdout (for the signing-rate and seeding helpers). */
export const runNode = (script, args = [], env = {}) => runToEnd([script, ...args], env, undefined, script);
