// HTTP load with autocannon: a warm-up, then a measured run of fixed duration. Every response is checked
// against what the scenario expects (a 303 for /auth, a 200 with tokens for /token, ...); the rate counts
// only expected responses, and anything else is reported next to it.
import autocannon from 'autocannon';
import { cpuSecondsOf, threadCpuOf } from './processes.mjs';

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

/**
 * Runs `scenario` against `origin`: `requests` are autocannon request objects (setupRequest/onResponse
 * allowed); `expect(status, body)` says whether a response is a success; `count(request)` whether a
 * response counts as one operation (default: every request; the passkey pair counts its second half).
 * With `pid`, also the server's CPU time per operation during the measured run (robust on a busy machine:
 * it does not count time the server waited for the CPU, nor time it blocked on fsync). `beforeMeasure` runs
 * between the warm-up and the measured run.
 */
export async function measure(origin, scenario, { warmup, duration, pid, cpuPids, beforeMeasure }) {
  const { connections = 10, requests, expect = (status) => status === 200, counts = () => true } = scenario;
  let ok = 0;
  let bad = 0;
  const unexpected = new Map();
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
  const base = { url: origin, connections, pipelining: 1, requests: wrapped, timeout: 30, onInstance: scenario.onInstance };
  if (warmup > 0) await once({ ...base, duration: warmup });
  await beforeMeasure?.();
  scenario.beforeMeasure?.();
  ok = 0;
  bad = 0;
  unexpected.clear();
  // A server of several processes (Hydra and its PostgreSQL) names them all: their CPU time counts together.
  const cpuNow = () => (cpuPids ? cpuPids().reduce((sum, p) => {
    try {
      return sum + cpuSecondsOf(p);
    } catch {
      return sum; // ended between listing and reading
    }
  }, 0) : cpuSecondsOf(pid));
  const cpuBefore = pid ? cpuNow() : 0;
  // By thread for a Node server only (the thread names are Node's).
  const threadsBefore = pid && !cpuPids ? threadCpuOf(pid) : undefined;
  const { result, seconds } = await once({ ...base, duration });
  const cpu = pid ? cpuNow() - cpuBefore : undefined;
  const threadsAfter = threadsBefore && threadCpuOf(pid);
  const ops = Math.max(1, ok + bad);
  const elapsed = scenario.elapsed?.() ?? seconds;
  return {
    name: scenario.name,
    connections,
    seconds: elapsed,
    ok,
    bad,
    rate: ok / elapsed,
    cpuMsPerOp: cpu === undefined ? undefined : (cpu * 1000) / ops,
    // The same CPU time by kind of thread, per operation.
    threadMsPerOp: threadsAfter && Object.fromEntries(Object.entries(threadsAfter).map(([kind, s]) => [kind, ((s - threadsBefore[kind]) * 1000) / ops])),
    cpuShare: cpu === undefined ? undefined : cpu / seconds,
    latency: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors + result.timeouts,
    unexpected: [...unexpected].slice(0, 3).map(([k, n]) => `${n}× ${k}`),
  };
}
