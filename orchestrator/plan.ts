import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "../workload/defaults.js";
import { phasesDurationMs, ratePhases } from "../workload/schedule.js";

/** Slack on top of a run's expected length before unfinished drivers are declared lost. */
export const DEADLINE_GRACE_MS = 10_000;

/** How long the workload runs from the start, if it is bounded by time; undefined for count-only runs. */
export function expectedDurationMs(spec: TestSpec): number | undefined {
  const w = spec.workload;
  let ms: number | undefined;
  if (w.case === "avalanche" || w.case === "tsunami") ms = w.value.limit.case === "durationMs" ? w.value.limit.value : undefined;
  if (w.case === "tsunami" && w.value.limit.case === "requestsPerDriver")
    ms = Number(w.value.limit.value) * w.value.delayMs;
  if (w.case === "arrivalRate") ms = phasesDurationMs(ratePhases(w.value));
  if (spec.maxDurationMs > 0) ms = ms === undefined ? spec.maxDurationMs : Math.min(ms, spec.maxDurationMs);
  return ms;
}

/**
 * The instant after which drivers that have not delivered final metrics are declared lost, or
 * undefined when only heartbeats bound the run (a request-count avalanche without max_duration_ms).
 */
export function runDeadlineMs(spec: TestSpec, startAtMs: number): number | undefined {
  const ms = expectedDurationMs(spec);
  if (ms === undefined) return undefined;
  return startAtMs + ms + (spec.requestTimeoutMs || DEFAULT_REQUEST_TIMEOUT_MS) + DEADLINE_GRACE_MS;
}
