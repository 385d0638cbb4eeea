import { create } from "@bufbuild/protobuf";
import { LatencyStatsSchema, ScenarioStatsSchema, StatsSchema, StepStatsSchema, type LatencyStats, type Stats } from "../gen/kannon/v1/report_pb.js";
import { msOf } from "../metrics/stats.js";
import { RunAccumulator, SINGLE_REQUEST, type ScenarioLayout } from "../metrics/step-stats.js";

/**
 * Most entries a report's interval series holds. A longer run is downsampled: each entry merges
 * `step` consecutive intervals exactly (histograms added), so a 24 h run at 1 s intervals keeps a
 * report of ~200 KB instead of ~14 MB; ListIntervals pages through every interval.
 */
export const MAX_REPORT_INTERVALS = 1000;
/**
 * Most rows (an entry, and each of its step rows, ~200 bytes each) a scenario test's series holds:
 * with many steps it gets fewer, coarser entries, so the report stays near 1 MB.
 */
export const MAX_REPORT_ROWS = 6000;

/** How many entries a report's series of a test of `layout` may hold. */
export function maxReportIntervals(layout: ScenarioLayout): number {
  return Math.min(MAX_REPORT_INTERVALS, Math.floor(MAX_REPORT_ROWS / (1 + layout.steps.length)));
}

/** A report's interval series. */
export interface Series {
  intervals: Stats[];
  /** Intervals merged per entry (1: every interval as it was). */
  step: number;
}

const strip = (l: LatencyStats | undefined) => (l && l.histogram.length > 0 ? create(LatencyStatsSchema, { ...l, histogram: new Uint8Array(0) }) : l);

/** The same numbers without the embedded histogram encodings (what streams and reports carry), its steps' and scenarios' too. */
export function withoutHistograms(stats: Stats): Stats {
  const latency = strip(stats.latency);
  const serviceTime = strip(stats.serviceTime);
  const failedLatency = strip(stats.failedLatency);
  const handshake = strip(stats.handshake);
  const firstMessage = strip(stats.firstMessage);
  return create(StatsSchema, {
    ...stats,
    ...(latency ? { latency } : {}),
    ...(serviceTime ? { serviceTime } : {}),
    ...(failedLatency ? { failedLatency } : {}),
    ...(handshake ? { handshake } : {}),
    ...(firstMessage ? { firstMessage } : {}),
    steps: stats.steps.map((s) => create(StepStatsSchema, { ...s, ...(s.stats ? { stats: withoutHistograms(s.stats) } : {}) })),
    scenarios: stats.scenarios.map((s) => {
      const iterationDuration = strip(s.iterationDuration);
      return create(ScenarioStatsSchema, { ...s, ...(iterationDuration ? { iterationDuration } : {}) });
    }),
  });
}

/**
 * Builds a report's series from a run's stored intervals (in order, with histograms), reading
 * them once and holding one group at a time; a scenario test's entries keep their steps and
 * scenarios (those that counted something), named after `layout`, in at most
 * {@link maxReportIntervals} entries.
 */
export function downsample(intervals: Iterable<Stats>, count: number, layout: ScenarioLayout = SINGLE_REQUEST, max = maxReportIntervals(layout)): Series {
  const step = Math.max(1, Math.ceil(count / max));
  const out: Stats[] = [];
  if (step === 1) {
    for (const s of intervals) if (s.interval < count) out.push(withoutHistograms(s));
    return { intervals: out, step };
  }
  let group = -1;
  let first = 0;
  let acc = new RunAccumulator(layout);
  let startMs = 0;
  let endMs = 0;
  const flush = () => {
    if (group >= 0) out.push(acc.toStats({ interval: first, startMs, endMs }));
  };
  for (const s of intervals) {
    // Only the run's intervals (a crashed predecessor may have stored one it never completed).
    if (s.interval >= count) continue;
    const g = Math.floor(s.interval / step);
    if (g !== group) {
      flush();
      group = g;
      first = s.interval;
      acc = new RunAccumulator(layout);
      startMs = s.start ? msOf(s.start) : 0;
    }
    acc.addStats(s);
    if (s.end) endMs = msOf(s.end);
  }
  flush();
  return { intervals: out, step };
}
