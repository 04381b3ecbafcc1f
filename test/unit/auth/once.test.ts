import { describe, expect, test } from 'vitest';
import { once } from '../../../src/auth/once.js';

/** A promise the test settles by hand, so "meanwhile" means exactly that, with no timing involved. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

describe('once', () => {
  test('callers that arrive while the first load runs share it: the load runs once', async () => {
    const gate = deferred<{ id: number }>();
    let loads = 0;
    const get = once(() => { loads += 1; return gate.promise; });
    const callers = Array.from({ length: 5 }, () => get());
    expect(loads).toBe(1);
    gate.resolve({ id: 7 });
    const results = await Promise.all(callers);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual({ id: 7 });
    expect(await get()).toBe(results[0]);
    expect(loads).toBe(1);
  });

  test('a failed load reaches every caller waiting on it, and the next call loads again', async () => {
    const first = deferred<string>();
    const loads: Array<Promise<string>> = [first.promise, Promise.resolve('loaded')];
    let calls = 0;
    const get = once(() => loads[calls++]!);
    const waiting = [get(), get()];
    first.reject(new Error('disk unplugged'));
    for (const caller of waiting) await expect(caller).rejects.toThrow('disk unplugged');
    expect(await get()).toBe('loaded');
    expect(await get()).toBe('loaded');
    expect(calls).toBe(2);
  });

  test('loads a real module once for concurrent first uses', async () => {
    const get = once(() => import('tldts'));
    const [a, b] = await Promise.all([get(), get()]);
    expect(a).toBe(b);
    expect(a.getDomain('id.home.example')).toBe('home.example');
  });
});
