// Load on first use, for what an idle server never runs (a library one feature needs, a value derived from it): the
// first call starts the work, callers meanwhile share it, and a failure is not kept (the next call tries again).

/** A function that runs `load` on its first call and hands every caller that call's result. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= load().catch((error: unknown) => {
    pending = undefined;
    throw error;
  }));
}
