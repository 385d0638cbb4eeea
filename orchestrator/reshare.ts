import { expectedDurationMs } from "./plan.js";
import type { LiveTest } from "./live-test.js";
import { msOf } from "../metrics/stats.js";

/** A re-split is announced this long ahead, so every remaining driver has it before it applies. */
export const RESHARE_LEAD_MS = 250;

/**
 * For an arrival-rate test that lost a driver (or had one stop early) while the schedule still
 * runs: the drivers that should share the schedule from now on. Undefined when nothing changes.
 * The remaining drivers keep their relative order, so most keep their requests' spacing.
 */
export function reshareDue(live: LiveTest, nowMs: number): string[] | undefined {
  const test = live.test;
  if (test.spec?.workload.case !== "arrivalRate" || live.cancelRequested || !test.startAt) return undefined;
  const endMs = msOf(test.startAt) + (expectedDurationMs(test.spec) ?? 0);
  if (nowMs + RESHARE_LEAD_MS >= endMs) return undefined;
  const active = live.sharedIds.filter((id) => {
    const d = live.drivers.get(id);
    return d !== undefined && !d.lost && !d.finished;
  });
  if (active.length === 0 || active.length === live.sharedIds.length) return undefined;
  return active;
}
