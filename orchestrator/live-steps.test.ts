/**
 * A scenario test's per-step and per-scenario numbers (issue 20) merged by LiveTest: per interval,
 * per driver and cumulative, in the report, the watch stream, the stored intervals, a downsampled
 * series and after a restarted orchestrator's replay. Every expected number is computed from the
 * raw samples the fake drivers "measured" (recorded into a fresh histogram, counted by hand), never
 * by the merge under test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { StatsSchema, type LatencyStats, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { timestampAt } from "../metrics/stats.js";
import type { ScenarioLayout } from "../metrics/step-stats.js";
import { replayStored } from "./ingest.js";
import { LiveTest, type TestUpdate } from "./live-test.js";
import { downsample, maxReportIntervals, MAX_REPORT_INTERVALS } from "./series.js";
import { metricsKey, Store } from "./store.js";

const START_MS = 1_764_000_000_000;
const INTERVAL_MS = 1000;

/** shop: login (checks ok, fast), item (check has-id) = steps 0, 1; browse: search = step 2. */
function scenarioTest(): Test {
  return create(TestSchema, {
    id: "t1",
    spec: {
      reportIntervalMs: INTERVAL_MS,
      targetUrl: "http://127.0.0.1:1/",
      workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 2000 } } },
      scenarios: [
        {
          name: "shop",
          weight: 3,
          steps: [
            { name: "login", url: "/login", checks: [{ name: "ok" }, { name: "fast" }] },
            { name: "item", url: "/items/1", checks: [{ name: "has-id" }] },
          ],
        },
        { name: "browse", weight: 1, steps: [{ name: "search", url: "/search" }] },
      ],
    },
    state: TestState.STARTING,
    driverIds: ["a", "b"],
    startAt: timestampAt(START_MS),
  });
}

/** What a fake driver measured for one step in one interval. */
interface RawStep {
  step: number;
  ok: number[];
  /** Answered with 500. */
  failed: number[];
  /** Transport errors ("timeout"). */
  errors: number[];
  service: number[];
  checks: [number, number][];
  captureMissing: number;
  aborted: number;
}
interface RawScenario {
  scenario: number;
  durations: number[];
  aborted: number;
}
interface Raw {
  driver: string;
  seq: number;
  steps: RawStep[];
  scenarios: RawScenario[];
}

let seed = 7;
/** Deterministic pseudo-random latencies between `lo` and `hi` µs. */
function samples(n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return lo + (seed % (hi - lo));
  });
}
const step = (i: number, n: number, checks: [number, number][] = [], extra: Partial<RawStep> = {}): RawStep => ({
  step: i,
  ok: samples(n, 200, 90_000),
  failed: samples(Math.floor(n / 10), 1000, 5000),
  errors: samples(i === 1 ? 2 : 0, 20_000, 30_000),
  service: samples(n, 100, 40_000),
  checks,
  captureMissing: i,
  aborted: i === 0 ? 1 : 0,
  ...extra,
});
const scenario = (i: number, n: number, aborted: number): RawScenario => ({ scenario: i, durations: samples(n, 5000, 400_000), aborted });

/** Driver a runs shop in both intervals; b runs browse in interval 0 and one login in interval 1. */
const RAW: Raw[] = [
  { driver: "a", seq: 0, steps: [step(0, 120, [[100, 20], [110, 10]]), step(1, 90, [[80, 12]])], scenarios: [scenario(0, 95, 1)] },
  { driver: "b", seq: 0, steps: [step(2, 300)], scenarios: [scenario(1, 300, 0)] },
  { driver: "a", seq: 1, steps: [step(0, 80, [[70, 10], [75, 5]]), step(1, 60, [[50, 10]])], scenarios: [scenario(0, 61, 1)] },
  { driver: "b", seq: 1, steps: [step(0, 7, [[6, 1], [7, 0]])], scenarios: [] },
];

const histogramOf = (values: number[]) => {
  const h = createLatencyHistogram();
  for (const v of values) recordUs(h, v);
  return encodeHistogram(h);
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The message a driver sends for `raw`: its steps and scenarios, and the totals over its steps. */
function message(raw: Raw, final = false): MetricsMessage {
  const all = (f: (s: RawStep) => number[]) => raw.steps.flatMap(f);
  const statuses = (ss: RawStep[]) => ({
    ...(sum(ss.map((s) => s.ok.length)) > 0 ? { 200: BigInt(sum(ss.map((s) => s.ok.length))) } : {}),
    ...(sum(ss.map((s) => s.failed.length)) > 0 ? { 500: BigInt(sum(ss.map((s) => s.failed.length))) } : {}),
  });
  const errors = (ss: RawStep[]) => (sum(ss.map((s) => s.errors.length)) > 0 ? { timeout: BigInt(sum(ss.map((s) => s.errors.length))) } : {});
  const requests = (ss: RawStep[]) => BigInt(sum(ss.map((s) => s.ok.length + s.failed.length + s.errors.length)));
  const bytes = (ss: RawStep[]) => BigInt(sum(ss.map((s) => 100 * (s.ok.length + s.failed.length))));
  return create(MetricsMessageSchema, {
    testId: "t1",
    driverId: raw.driver,
    seq: BigInt(raw.seq),
    final,
    intervalStart: timestampAt(START_MS + raw.seq * INTERVAL_MS),
    intervalEnd: timestampAt(START_MS + (raw.seq + 1) * INTERVAL_MS),
    requests: requests(raw.steps),
    statusCounts: statuses(raw.steps),
    errorCounts: errors(raw.steps),
    bytesReceived: bytes(raw.steps),
    latencyHistogram: histogramOf(all((s) => s.ok)),
    failedLatencyHistogram: histogramOf(all((s) => [...s.failed, ...s.errors])),
    serviceTimeHistogram: histogramOf(all((s) => s.service)),
    steps: raw.steps.map((s) => ({
      stepIndex: s.step,
      requests: requests([s]),
      statusCounts: statuses([s]),
      errorCounts: errors([s]),
      bytesReceived: bytes([s]),
      latencyHistogram: histogramOf(s.ok),
      failedLatencyHistogram: histogramOf([...s.failed, ...s.errors]),
      serviceTimeHistogram: histogramOf(s.service),
      checks: s.checks.map(([passed, failed]) => ({ passed: BigInt(passed), failed: BigInt(failed) })),
      captureMissing: BigInt(s.captureMissing),
      abortedIterations: BigInt(s.aborted),
    })),
    scenarios: raw.scenarios.map((s) => ({ scenarioIndex: s.scenario, iterations: BigInt(s.durations.length), aborted: BigInt(s.aborted), iterationHistogram: histogramOf(s.durations) })),
  });
}

/**
 * A latency summary checked against a fresh histogram of the raw values (and its embedded
 * encoding, when set). The fresh one goes through the standard encoding once, as every merged
 * histogram has: its max then is its top bucket's highest equivalent value, not the raw maximum.
 */
function expectLatency(actual: LatencyStats | undefined, values: number[], what: string): void {
  const fresh = createLatencyHistogram(64);
  for (const v of values) recordUs(fresh, v);
  const h = decodeHistogram(encodeHistogram(fresh));
  expect(Number(actual?.count ?? 0n), what).toBe(values.length);
  if (values.length === 0) return;
  expect(actual!.minUs, what).toBe(BigInt(Math.round(h.minNonZeroValue)));
  expect(actual!.maxUs, what).toBe(BigInt(Math.round(h.maxValue)));
  for (const [p, v] of [[50, actual!.p50Us], [90, actual!.p90Us], [99, actual!.p99Us], [99.9, actual!.p999Us]] as const) expect(v, `${what} p${p}`).toBe(BigInt(h.getValueAtPercentile(p)));
  expect(actual!.meanUs, what).toBeCloseTo(h.mean, 6);
  if (actual!.histogram.length > 0) expect(decodeHistogram(actual!.histogram).getValueAtPercentile(99), what).toBe(h.getValueAtPercentile(99));
}

const NAMES = [["shop", "login", ["ok", "fast"]], ["shop", "item", ["has-id"]], ["browse", "search", []]] as const;

/**
 * Checks a Stats' steps and scenarios against the raw measurements `raws` (those the view covers)
 * over a window of `seconds`; `every` lists every step and scenario, else those that counted.
 */
function expectParts(stats: Stats, raws: Raw[], seconds: number, every: boolean): void {
  const steps = raws.flatMap((r) => r.steps);
  const counted = [...new Set(steps.map((s) => s.step))].sort();
  expect(stats.steps.map((s) => s.stepIndex)).toEqual(every ? [0, 1, 2] : counted);
  for (const row of stats.steps) {
    const mine = steps.filter((s) => s.step === row.stepIndex);
    const what = `step ${row.stepIndex}`;
    const [scenarioName, stepName, checkNames] = NAMES[row.stepIndex]!;
    expect([row.scenario, row.step], what).toEqual([scenarioName, stepName]);
    const ok = mine.flatMap((s) => s.ok);
    const failed = mine.flatMap((s) => [...s.failed, ...s.errors]);
    const requests = ok.length + failed.length;
    const s = row.stats!;
    expect(Number(s.requests), what).toBe(requests);
    expect(Number(s.errors), what).toBe(failed.length);
    expect(s.requestsPerS, what).toBeCloseTo(requests / seconds, 9);
    expect(Number(s.bytesReceived), what).toBe(100 * sum(mine.map((x) => x.ok.length + x.failed.length)));
    expect(Number(s.statusCounts[200] ?? 0n), what).toBe(ok.length);
    expect(Number(s.errorCounts["timeout"] ?? 0n), what).toBe(sum(mine.map((x) => x.errors.length)));
    expect([s.interval, s.start, s.end], what).toEqual([stats.interval, stats.start, stats.end]);
    expectLatency(s.latency, ok, `${what} latency`);
    expectLatency(s.failedLatency, failed, `${what} failed_latency`);
    expectLatency(s.serviceTime, mine.flatMap((x) => x.service), `${what} service_time`);
    expect(row.checks.map((c) => [c.name, Number(c.passed), Number(c.failed)]), what).toEqual(
      checkNames.map((name, k) => [name, sum(mine.map((x) => x.checks[k]?.[0] ?? 0)), sum(mine.map((x) => x.checks[k]?.[1] ?? 0))]),
    );
    expect(Number(row.captureMissing), what).toBe(sum(mine.map((x) => x.captureMissing)));
    expect(Number(row.abortedIterations), what).toBe(sum(mine.map((x) => x.aborted)));
  }
  const scenarios = raws.flatMap((r) => r.scenarios);
  expect(stats.scenarios.map((s) => s.scenarioIndex)).toEqual(every ? [0, 1] : [...new Set(scenarios.map((s) => s.scenario))].sort());
  for (const row of stats.scenarios) {
    const mine = scenarios.filter((s) => s.scenario === row.scenarioIndex);
    const durations = mine.flatMap((s) => s.durations);
    expect(row.scenario).toBe(["shop", "browse"][row.scenarioIndex]);
    expect(Number(row.iterations)).toBe(durations.length);
    expect(Number(row.aborted)).toBe(sum(mine.map((s) => s.aborted)));
    expect(row.iterationsPerS).toBeCloseTo(durations.length / seconds, 9);
    expectLatency(row.iterationDuration, durations, `scenario ${row.scenarioIndex} iteration_duration`);
  }
}

/** Runs RAW through a LiveTest (finals after the last interval) and ends it. */
function run(apply: (live: LiveTest, m: MetricsMessage) => void = (l, m) => l.apply(m)) {
  const stored: Stats[] = [];
  const live = new LiveTest(scenarioTest(), (s) => stored.push(s));
  const updates: TestUpdate[] = [];
  live.watch((u) => updates.push(u));
  for (const r of RAW) apply(live, message(r, r.seq === 1));
  live.seal();
  const { report } = live.finish({ state: TestState.COMPLETED, message: "" }, downsample(stored, live.intervalCount, live.layout), START_MS + 5000);
  return { live, stored, updates, report };
}

describe("LiveTest: a scenario test's steps and scenarios", () => {
  it("merges every interval, every driver and the run exactly, with names; interval views list what counted, cumulative views every step", () => {
    const { stored, updates, report } = run();
    expect(stored.map((s) => s.interval)).toEqual([0, 1]);
    for (const k of [0, 1]) expectParts(stored[k]!, RAW.filter((r) => r.seq === k), 1, false);
    // Interval 1: driver b ran only login, and nobody browsed.
    expect(stored[1]!.steps.map((s) => s.step)).toEqual(["login", "item"]);
    expect(stored[1]!.scenarios.map((s) => s.scenario)).toEqual(["shop"]);
    // The stream: intervals without histograms; the cumulative view lists every step.
    const streamed = updates.filter((u) => u.interval).map((u) => u.interval!);
    expect(streamed.map((s) => s.steps.map((st) => st.stats!.latency!.histogram.length))).toEqual([[0, 0, 0], [0, 0]]);
    expectParts(streamed[1]!, RAW.filter((r) => r.seq === 1), 1, false);
    const cumulative = updates.filter((u) => u.interval).at(-1)!.cumulative!;
    expectParts(cumulative, RAW, 2, true);
    // The report: the total and each driver list every step (driver a never ran search).
    expectParts(report.total!, RAW, 2, true);
    for (const d of report.drivers) expectParts(d.stats!, RAW.filter((r) => r.driver === d.driverId), 2, true);
    expect(report.drivers[0]!.stats!.steps[2]!.stats!.requests).toBe(0n);
    expect(report.total!.steps[0]!.stats!.latency!.histogram.length).toBeGreaterThan(0);
    // The totals are what they were before steps existed: the sum over every step.
    expect(Number(report.total!.requests)).toBe(sum(report.total!.steps.map((s) => Number(s.stats!.requests))));
    expect(report.intervals.map((s) => s.steps.map((st) => st.stepIndex))).toEqual([[0, 1, 2], [0, 1]]);
  });

  it("a downsampled series merges its intervals' steps exactly", () => {
    const { stored } = run();
    const series = downsample(stored, 2, new LiveTest(scenarioTest()).layout, 1);
    expect(series.step).toBe(2);
    expectParts(series.intervals[0]!, RAW, 2, false);
  });

  it("a report's series of a test with many steps has fewer, coarser entries (its rows stay bounded)", () => {
    const layout = (steps: number): ScenarioLayout => ({ steps: Array.from({ length: steps }, (_, i) => ({ scenario: "s", step: `${i}`, checks: [] })), scenarios: ["s"] });
    expect([0, 5, 11, 59, 256].map((n) => maxReportIntervals(layout(n)))).toEqual([MAX_REPORT_INTERVALS, 1000, 500, 100, 23]);
    const intervals = Array.from({ length: 250 }, (_, k) => create(StatsSchema, { interval: k, requests: 1n }));
    const series = downsample(intervals, 250, layout(59));
    expect([series.step, series.intervals.length, series.intervals[0]!.requests]).toEqual([3, 84, 3n]);
    expect(downsample(intervals, 250, layout(5)).step).toBe(1);
  });

  it("refuses, changing nothing, a block the test does not have; a single-request test has no rows", () => {
    const live = new LiveTest(scenarioTest());
    const bad = message(RAW[0]!);
    bad.steps[1]!.stepIndex = 3;
    expect(() => live.apply(bad)).toThrow(/step_index 3 is beyond the test's 3 steps/);
    const tooManyChecks = message(RAW[0]!);
    tooManyChecks.steps[1]!.checks.push(tooManyChecks.steps[1]!.checks[0]!);
    expect(() => live.apply(tooManyChecks)).toThrow(/step 1 carries 2 check counts, and has 1 checks/);
    const badScenario = message(RAW[0]!);
    badScenario.scenarios[0]!.scenarioIndex = 2;
    expect(() => live.apply(badScenario)).toThrow(/scenario_index 2 is beyond the test's 2 scenarios/);
    live.seal();
    expect(live.cumulativeStats().requests).toBe(0n);
    expect(live.cumulativeStats().steps.map((s) => s.stats!.requests)).toEqual([0n, 0n, 0n]);

    const single = scenarioTest();
    single.spec!.scenarios = [];
    const plain = new LiveTest(single);
    expect(() => plain.apply(message(RAW[0]!))).toThrow(/step_index 0 is beyond the test's 0 steps/);
    const m = message(RAW[0]!);
    m.steps = [];
    m.scenarios = [];
    plain.apply(m);
    plain.seal();
    const stats = plain.cumulativeStats();
    expect([stats.requests, stats.steps, stats.scenarios]).toEqual([m.requests, [], []]);
  });

  it("a restarted orchestrator's replay of the stored driver intervals gives the same report", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-steps-"));
    const store = new Store(dir);
    try {
      const straight = run();
      // The first orchestrator stored every driver interval as it applied them, then died.
      await store.putMetricsBatch(RAW.map((r) => message(r, r.seq === 1)).map((m) => ({ key: metricsKey(m), value: toBinary(MetricsMessageSchema, m) })));
      const stored: Stats[] = [];
      const resumed = new LiveTest(scenarioTest(), (s) => stored.push(s));
      await replayStored(resumed, store, () => {});
      resumed.seal();
      const { report } = resumed.finish({ state: TestState.COMPLETED, message: "" }, downsample(stored, resumed.intervalCount, resumed.layout), START_MS + 5000);
      expect(stored).toEqual(straight.stored);
      expect(report.total).toEqual(straight.report.total);
      expect(report.drivers).toEqual(straight.report.drivers);
      expectParts(report.total!, RAW, 2, true);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
