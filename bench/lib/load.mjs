// HTTP load with autocannon: a warm-up, then measured runs, of a fixed duration or in slices of a fixed number of
// requests. Every response is checked against what the scenario expects (a 303 for /auth, a 200 with tokens for
// /token, ...); the rate counts only expected responses, and anything else is reported next to it.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { serverCpuSeconds, threadCpuOf } from './processes.mjs';

/**
 * The whole machine's CPU time so far from /proc/stat, in clock ticks: idle (idle and iowait) and all (every state),
 * summed over its cores; undefined where there is no /proc/stat.
 */
function machineNow() {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
    return { idle: ticks[3] + ticks[4], all: ticks.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

function once(opts) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const instance = autocannon(opts, (error, result) => {
      if (error) reject(error);
      else resolve({ result, seconds: (performance.now() - started) / 1000 });
    });
    opts.onInstance?.(instance);
  });
}

/** The p-th percentile (0 to 100) of sorted numbers, nearest rank. */
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : 0);

/**
 * A load of `scenario` on `origin` that measures in runs and adds them up: `requests` are autocannon request
 * objects (setupRequest/onResponse allowed); `expect(status, body)` says whether a response is a success;
 * `count(request)` whether a response counts as one operation (default: every request; the passkey pair counts
 * its second half). With `pid`, also the server's CPU time per operation in the measured window (robust on a
 * busy machine: it does not count time the server waited for the CPU, nor time it blocked on fsync), in all and by
 * kind of thread. A run of `amount` requests awaits every response: no refresh token or code is cut off in flight,
 * so the runs of several systems can alternate in slices without losing the scenario's state.
 */
export function createLoad(origin, scenario, { pid, cpuPids } = {}) {
  const { connections = 10, requests, expect = (status) => status === 200, counts = () => true } = scenario;
  let ok = 0;
  let bad = 0;
  let measuring = false;
  const unexpected = new Map();
  const latencies = [];
  const wrapped = requests.map((req, index) => ({
    ...req,
    onResponse(status, body, context, headers) {
      if (counts(index)) {
        if (expect(status, body)) ok += 1;
        else {
          bad += 1;
          const key = `${status} ${String(body).slice(0, 120)}`;
          unexpected.set(key, (unexpected.get(key) ?? 0) + 1);
        }
      }
      req.onResponse?.(status, body, context, headers);
    },
  }));
  // The run under way: autocannon notices that a run of `amount` requests is done at its next sampling tick (every
  // second by default; 20 ms here), so the run's time is counted up to its last response.
  let current;
  const onInstance = (instance) => {
    const run = current;
    instance.on('response', (_client, _status, _bytes, ms) => {
      if (measuring) latencies.push(ms);
      if (run?.amount && ++run.answered === run.amount) {
        run.lastAt = performance.now();
        run.machineAt = machineNow();
      }
    });
    scenario.onInstance?.(instance);
  };
  const base = { url: origin, connections, pipelining: 1, requests: wrapped, timeout: 30, onInstance };
  /** Requests per warm-up run; a scenario that consumes minted material (codes) needs as many per run. */
  const warmupAmount = Math.max(200, 20 * connections);
  // A server of several processes (Hydra and its PostgreSQL) names them all: their CPU time counts together.
  const cpuNow = () => serverCpuSeconds(pid, cpuPids);
  const total = { seconds: 0, cpu: 0, threads: undefined, errors: 0, idleTicks: 0, allTicks: 0 };
  let cpuFrom;
  let threadsFrom;

  /**
   * `amount` requests with every response awaited (stopped after `deadline` seconds all the same, should a server
   * stop answering: autocannon counts a timed-out request towards the amount and sends the next); its time runs to
   * its last response.
   */
  async function fixedRun(amount, deadline) {
    current = { amount, answered: 0, lastAt: undefined, machineAt: undefined };
    const startedAt = performance.now();
    let timer;
    const { result, seconds } = await once({
      ...base, amount, sampleInt: 20, onInstance: (instance) => { timer = setTimeout(() => instance.stop(), deadline * 1000); onInstance(instance); },
    });
    clearTimeout(timer);
    return { result, seconds: current.lastAt ? (current.lastAt - startedAt) / 1000 : seconds };
  }

  return {
    warmupAmount,
    /**
     * Unmeasured load for about `seconds`; its rate (expected responses per second) sizes the slices. In runs of a
     * fixed number of requests, every response awaited, as the slices are: a run stopped by the clock would drop the
     * refresh tokens its last requests were answered with, a chain per connection.
     */
    async warmup(seconds) {
      ok = 0;
      bad = 0;
      const started = performance.now();
      let busy = 0; // the runs' time up to their last responses, without connecting and noticing the end
      while ((performance.now() - started) / 1000 < seconds) busy += (await fixedRun(warmupAmount, 30 * seconds)).seconds;
      return ok / busy;
    },
    /**
     * The measured window opens: the server's CPU time counts from here to close(), including what it does between
     * its runs (a garbage collection or a commit that a burst of requests left behind while another system runs).
     */
    open() {
      ok = 0;
      bad = 0;
      unexpected.clear();
      cpuFrom = pid ? cpuNow() : undefined;
      // By thread for a Node server only (the thread names are Node's).
      threadsFrom = pid && !cpuPids ? threadCpuOf(pid) : undefined;
    },
    /** One measured run: `duration` seconds, or `amount` requests as fixedRun() makes them. */
    async run({ duration, amount, deadline = 60 }) {
      measuring = true;
      current = undefined;
      const machineFrom = machineNow();
      const { result, seconds } = amount ? await fixedRun(amount, deadline) : await once({ ...base, duration });
      measuring = false;
      const machineTo = current?.machineAt ?? machineNow();
      if (machineFrom && machineTo) {
        total.idleTicks += machineTo.idle - machineFrom.idle;
        total.allTicks += machineTo.all - machineFrom.all;
      }
      total.seconds += scenario.elapsed?.() ?? seconds;
      total.errors += result.errors; // timeouts included
    },
    /** The measured window closes (open()). */
    close() {
      if (pid) total.cpu = cpuNow() - cpuFrom;
      if (threadsFrom) {
        const after = threadCpuOf(pid);
        total.threads = Object.fromEntries(Object.keys(after).map((kind) => [kind, after[kind] - threadsFrom[kind]]));
      }
    },
    /** The measured runs together. */
    result() {
      const ops = Math.max(1, ok + bad);
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        name: scenario.name,
        connections,
        seconds: total.seconds,
        ok,
        bad,
        rate: ok / total.seconds,
        cpuMsPerOp: pid ? (total.cpu * 1000) / ops : undefined,
        threadMsPerOp: total.threads && Object.fromEntries(Object.entries(total.threads).map(([kind, s]) => [kind, (s * 1000) / ops])),
        cpuShare: pid ? total.cpu / total.seconds : undefined,
        // The share of the machine's CPU time (all cores) that was idle during the runs, load generator included: a
        // server that leaves it idle is waiting (for a thread, the disk, or its clients), not short of CPU.
        machineIdle: total.allTicks > 0 ? total.idleTicks / total.allTicks : undefined,
        latency: {
          mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
          p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0,
        },
        errors: total.errors,
        unexpected: [...unexpected].slice(0, 3).map(([k, n]) => `${n}× ${k}`),
      };
    },
  };
}

/** A warm-up, `beforeMeasure`, then one measured run of `duration` seconds in its own window (createLoad). */
export async function measure(origin, scenario, { warmup, duration, pid, cpuPids, beforeMeasure }) {
  const load = createLoad(origin, scenario, { pid, cpuPids });
  if (warmup > 0) await load.warmup(warmup);
  await beforeMeasure?.();
  scenario.beforeMeasure?.();
  load.open();
  await load.run({ duration });
  load.close();
  return load.result();
}
