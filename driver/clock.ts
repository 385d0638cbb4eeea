/** Wall-clock epoch milliseconds with sub-millisecond resolution (monotonic within a process). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves at epoch time `atMs` (or at once if it has passed), or early when `signal` aborts. */
export function sleepUntil(atMs: number, signal?: AbortSignal): Promise<void> {
  const wait = atMs - nowMs();
  if (wait <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, wait);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Waits precisely for `atMs`: a timer until ~2 ms before, then a short spin, so the fleet's
 * common start is hit within a fraction of a millisecond when the event loop is free.
 */
export async function waitForInstant(atMs: number, signal?: AbortSignal): Promise<void> {
  await sleepUntil(atMs - 2, signal);
  while (!signal?.aborted && nowMs() < atMs) {
    // spin for the last ~2 ms
  }
}
