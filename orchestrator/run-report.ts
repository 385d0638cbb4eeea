/**
 * The per-driver part of a running test (what LiveTest keeps of each driver) and of its final
 * report: each driver's totals, skew, covered intervals and clock.
 */
import { create } from "@bufbuild/protobuf";
import type { ClockOffset } from "../gen/kannon/v1/driver_pb.js";
import { DriverReportSchema, IntervalRangeSchema, type DriverReport } from "../gen/kannon/v1/report_pb.js";
import type { RunAccumulator } from "../metrics/step-stats.js";
import { LATE_START_MS } from "../workload/defaults.js";

/** A driver that starts this much later than start_at is flagged as a late start. */
export const LATE_START_US = BigInt(LATE_START_MS * 1000);

/** What a running test keeps of one of its drivers. */
export interface DriverProgressState {
  id: string;
  /** Highest seq seen, or -1. */
  lastSeq: number;
  finished: boolean;
  lost: boolean;
  message: string;
  /** Data files whose rows ran out on the driver (its final message's data_exhausted): a note, not a failure. */
  dataExhausted: string[];
  skewUs: bigint | undefined;
  /** Everything it delivered, merged (per step too, for a scenario test). */
  totals: RunAccumulator;
  /** Intervals delivered with measurements, as sorted, disjoint [first, last] ranges. */
  covered: [number, number][];
}

/**
 * The drivers' part of the final report: each driver's cumulative numbers (every step of a
 * scenario test, with histograms) over the window from `startAtMs`.
 */
export function driverReports(drivers: Iterable<DriverProgressState>, startAtMs: number, clockOf: (driverId: string) => ClockOffset | undefined): DriverReport[] {
  return [...drivers].map((d) => {
    const clock = clockOf(d.id);
    return create(DriverReportSchema, {
      driverId: d.id,
      stats: d.totals.toStats({ withHistogram: true, startMs: startAtMs, every: true }),
      startSkewUs: d.skewUs ?? 0n,
      lateStart: (d.skewUs ?? 0n) > LATE_START_US,
      finished: d.finished,
      message: d.message,
      dataExhausted: d.dataExhausted,
      coveredIntervals: d.covered.map(([first, last]) => create(IntervalRangeSchema, { first, last })),
      ...(clock ? { clock } : {}),
    });
  });
}

/** The fleet's start skew: latest measured start minus earliest (0 when none was measured). */
export function fleetStartSkewUs(drivers: Iterable<DriverProgressState>): bigint {
  const skews = [...drivers].map((d) => d.skewUs).filter((s): s is bigint => s !== undefined);
  return skews.length > 0 ? skews.reduce((a, b) => (a > b ? a : b)) - skews.reduce((a, b) => (a < b ? a : b)) : 0n;
}

/** Adds interval `k` to sorted, disjoint ranges (in order, the common case, it extends the last). */
export function cover(ranges: [number, number][], k: number): void {
  const last = ranges[ranges.length - 1];
  if (last && k >= last[0] && k <= last[1]) return;
  if (last && k === last[1] + 1) {
    last[1] = k;
    return;
  }
  if (!last || k > last[1]) {
    ranges.push([k, k]);
    return;
  }
  // Out of order: insert, then merge neighbours.
  let i = ranges.findIndex((r) => k <= r[1]);
  const r = ranges[i]!;
  if (k >= r[0]) return;
  ranges.splice(i, 0, [k, k]);
  if (i > 0 && ranges[i - 1]![1] + 1 === k) {
    ranges[i - 1]![1] = k;
    ranges.splice(i, 1);
    i--;
  }
  const cur = ranges[i]!;
  const nxt = ranges[i + 1];
  if (nxt && cur[1] + 1 === nxt[0]) {
    cur[1] = nxt[1];
    ranges.splice(i + 1, 1);
  }
}
