/**
 * Errors a process handles by going on (a failed best-effort publish, a retry, a skipped record):
 * each one gets a log line with its context and a count under the place it happened, so none
 * passes unseen. The orchestrator serves the counts at `GET /metrics` as
 * `kannon_errors_swallowed_total{where="…"}`.
 */

const counts = new Map<string, number>();

/**
 * Records an error that the caller handles without rethrowing: counts it under `where` (a stable,
 * dotted name of the place, e.g. `orchestrator.store_interval`) and logs `message`.
 */
export function swallowed(where: string, message: string, log: (message: string) => void = (m) => console.warn(m)): void {
  counts.set(where, (counts.get(where) ?? 0) + 1);
  log(message);
}

/** How many errors each place has handled so far in this process. */
export function swallowedCounts(): ReadonlyMap<string, number> {
  return counts;
}
