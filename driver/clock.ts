/** The process's time origin, read once: `performance.timeOrigin` is a getter that showed in profiles of the send path. */
const ORIGIN_MS = performance.timeOrigin;

/** Wall-clock epoch milliseconds with sub-millisecond resolution (monotonic within a process). */
export function nowMs(): number {
  return ORIGIN_MS + performance.now();
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

/** A word nobody ever notifies: `Atomics.wait` on it is a precise sleep of the calling thread. */
const never = new Int32Array(new SharedArrayBuffer(4));

/** The last part of a wait for an instant is a spin: a thread woken right at the instant may find the cores taken. */
const SPIN_MS = 0.5;

/** Waits in progress in this thread, by instant: parts that start together wake together. */
const gates = new Map<number, Promise<void>>();

/**
 * Waits precisely for `atMs`: a timer until ~10 ms before, then the thread blocks in
 * `Atomics.wait` (a futex with a timeout) until half a millisecond before, and spins the rest, so
 * that it is already on a core at the instant. Blocking instead of a long spin leaves the cores to
 * the other threads (spinning threads that outnumber the cores were descheduled past the instant). Everything in this thread waiting for the same instant shares one wait and wakes in
 * the same turn of the event loop: drivers sharing a thread start within a fraction of a
 * millisecond of each other, where separate timers had the second one wait for the first one's
 * traffic. Resolves early when `signal` aborts.
 */
export function waitForInstant(atMs: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  let gate = gates.get(atMs);
  if (gate === undefined) {
    gate = (async () => {
      await sleepUntil(atMs - 10);
      for (let left = atMs - SPIN_MS - nowMs(); left > 0; left = atMs - SPIN_MS - nowMs()) Atomics.wait(never, 0, 0, left);
      while (nowMs() < atMs) {
        // spin for the last fraction of a millisecond: already on a core at the instant
      }
    })().finally(() => gates.delete(atMs));
    gates.set(atMs, gate);
  }
  if (signal === undefined) return gate;
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    void gate.then(done);
  });
}
