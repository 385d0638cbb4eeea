/** Wall-clock epoch milliseconds with sub-millisecond resolution (monotonic within a process). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Resolves at epoch time `atMs` (or at once if it has passed), or early when `signal` aborts.
 * Timers may fire up to a millisecond early: never resolves before `atMs` unless aborted.
 */
export function sleepUntil(atMs: number, signal?: AbortSignal): Promise<void> {
  if (atMs - nowMs() <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const arm = () => {
      const wait = atMs - nowMs();
      if (wait <= 0) done();
      // Timers longer than 2^31 − 1 ms fire at once in Node: wait in steps of at most an hour.
      else timer = setTimeout(arm, Math.min(Math.ceil(wait), 3_600_000));
    };
    signal?.addEventListener("abort", done, { once: true });
    arm();
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
