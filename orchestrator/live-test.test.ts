import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { LiveTest, type Ending, type TestUpdate } from "./live-test.js";
import { cover, LATE_START_US } from "./run-report.js";
import { downsample } from "./series.js";

const START_MS = 1_764_000_000_000;
const INTERVAL_MS = 1000;

function newTest(driverIds: string[] = ["a", "b"]) {
  return create(TestSchema, {
    id: "t1",
    spec: {
      reportIntervalMs: INTERVAL_MS,
      targetUrl: "http://127.0.0.1:1/",
      workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 3000 } } },
    },
    state: TestState.STARTING,
    driverIds,
    startAt: timestampAt(START_MS),
  });
}

interface MsgOptions {
  /** Latencies in µs; one request each. */
  latencies?: number[];
  statusCounts?: Record<number, bigint>;
  errorCounts?: Record<string, bigint>;
  final?: boolean;
  skewUs?: bigint;
  error?: string;
}

function msg(driverId: string, seq: number, o: MsgOptions = {}): MetricsMessage {
  const latencies = o.latencies ?? [];
  const h = createLatencyHistogram();
  for (const us of latencies) recordUs(h, us);
  return create(MetricsMessageSchema, {
    testId: "t1",
    driverId,
    seq: BigInt(seq),
    intervalStart: timestampAt(START_MS + seq * INTERVAL_MS),
    intervalEnd: timestampAt(START_MS + (seq + 1) * INTERVAL_MS),
    requests: BigInt(latencies.length),
    statusCounts: o.statusCounts ?? (latencies.length > 0 ? { 200: BigInt(latencies.length) } : {}),
    errorCounts: o.errorCounts ?? {},
    bytesReceived: BigInt(latencies.length * 10),
    latencyHistogram: encodeHistogram(h),
    final: o.final ?? false,
    startSkewUs: o.skewUs ?? 0n,
    error: o.error ?? "",
  });
}

/** `n` latencies derived from a base, so every message carries distinct values. */
const lat = (base: number, n: number) => Array.from({ length: n }, (_, i) => base + i * 37);

function watcher(live: LiveTest) {
  const updates: TestUpdate[] = [];
  const stop = live.watch((r) => updates.push(r));
  return {
    updates,
    stop,
    intervals: () => updates.filter((u) => u.interval).map((u) => u.interval!.interval),
  };
}

/** Stored intervals of each LiveTest made by liveOf (what the orchestrator's store would hold). */
const storedIntervals = new WeakMap<LiveTest, Stats[]>();

function liveOf(test: Test): LiveTest {
  const kept: Stats[] = [];
  const live = new LiveTest(test, (s) => kept.push(s));
  storedIntervals.set(live, kept);
  return live;
}

/** Ends a run as the orchestrator does: seal, then the report with the stored series. */
function end(live: LiveTest, ending: Ending, nowMs?: number) {
  live.seal();
  return live.finish(ending, downsample(storedIntervals.get(live) ?? [], live.intervalCount), nowMs);
}

describe("LiveTest", () => {
  it("the watcher gets the current state first on subscribe", () => {
    const live = liveOf(newTest());
    const w0 = watcher(live);
    expect(w0.updates).toHaveLength(1);
    expect(w0.updates[0]!.test!.state).toBe(TestState.STARTING);
    expect(w0.updates[0]!.drivers.map((d) => d.driverId)).toEqual(["a", "b"]);
    expect(w0.updates[0]!.cumulative!.requests).toBe(0n);
    expect(w0.updates[0]!.interval).toBeUndefined();

    live.apply(msg("a", 0, { latencies: lat(100, 3) }));
    live.apply(msg("b", 0, { latencies: lat(200, 4) }));
    live.apply(msg("a", 1, { latencies: lat(300, 5) }));

    const late = watcher(live);
    expect(late.updates).toHaveLength(1);
    const first = late.updates[0]!;
    expect(first.test!.state).toBe(TestState.RUNNING);
    // Cumulative covers emitted intervals only: interval 1 still waits for b.
    expect(first.cumulative!.requests).toBe(7n);
    expect(first.drivers.find((d) => d.driverId === "a")!.requests).toBe(8n);
    expect(first.drivers.find((d) => d.driverId === "a")!.lastSeq).toBe(1n);
    expect(first.drivers.find((d) => d.driverId === "b")!.requests).toBe(4n);

    late.stop();
    live.apply(msg("b", 1, { latencies: lat(400, 1) }));
    expect(late.updates).toHaveLength(1);
    expect(w0.intervals()).toEqual([0, 1]);
  });

  it("moves STARTING → RUNNING on the first data and tells watchers", () => {
    const live = liveOf(newTest());
    const w = watcher(live);
    live.apply(msg("a", 0, { skewUs: 10n })); // no data: still starting
    expect(live.test.state).toBe(TestState.STARTING);
    live.apply(msg("b", 0, { latencies: [100] }));
    expect(live.test.state).toBe(TestState.RUNNING);
    expect(w.updates.some((u) => u.test!.state === TestState.RUNNING && !u.interval)).toBe(true);
  });

  it("emits interval k only once both drivers reported seq ≥ k, with both drivers' numbers", () => {
    const live = liveOf(newTest());
    const w = watcher(live);
    live.apply(msg("a", 0, { latencies: lat(100, 3) }));
    expect(w.intervals()).toEqual([]);
    live.apply(msg("a", 1, { latencies: lat(100, 2) }));
    expect(w.intervals()).toEqual([]);
    live.apply(msg("b", 0, { latencies: lat(1000, 4), statusCounts: { 200: 3n, 500: 1n } }));
    expect(w.intervals()).toEqual([0]);
    const i0 = w.updates.find((u) => u.interval?.interval === 0)!.interval!;
    expect(i0.requests).toBe(7n);
    expect(i0.statusCounts).toEqual({ 200: 6n, 500: 1n });
    expect(i0.errors).toBe(1n);
    expect(i0.latency!.count).toBe(7n);
    expect(msOf(i0.start!)).toBe(START_MS);
    expect(i0.requestsPerS).toBeCloseTo(7, 9);
    live.apply(msg("b", 1, { latencies: lat(1000, 6) }));
    expect(w.intervals()).toEqual([0, 1]);
    expect(w.updates.find((u) => u.interval?.interval === 1)!.interval!.requests).toBe(8n);
    expect(w.updates.at(-1)!.cumulative!.requests).toBe(15n);
  });

  it("emits intervals in order, each exactly once, when one driver runs ahead", () => {
    const live = liveOf(newTest());
    const w = watcher(live);
    for (let k = 0; k < 4; k++) live.apply(msg("b", k, { latencies: lat(500 + k, k + 1) }));
    expect(w.intervals()).toEqual([]);
    live.apply(msg("a", 2, { latencies: lat(100, 1) })); // a skipped 0 and 1 (idle), reports 2
    expect(w.intervals()).toEqual([0, 1, 2]);
    live.apply(msg("a", 3, { latencies: lat(100, 1), final: true }));
    live.apply(msg("b", 4, { final: true }));
    expect(w.intervals()).toEqual([0, 1, 2, 3]);
    expect(live.allDone).toBe(true);
    const { report } = end(live, { state: TestState.COMPLETED, message: "" });
    expect(report.intervals.map((i) => i.interval)).toEqual([0, 1, 2, 3]);
    expect(report.intervals.map((i) => i.requests)).toEqual([1n, 2n, 4n, 5n]);
    expect(report.total!.requests).toBe(12n);
  });

  it("the final report's total is the exact sum of both drivers, with per-driver reports", () => {
    const live = liveOf(newTest());
    const a = [msg("a", 0, { latencies: lat(100, 10) }), msg("a", 1, { latencies: lat(150, 20), statusCounts: { 200: 18n, 404: 2n } }), msg("a", 2, { latencies: lat(90_000, 5), final: true })];
    const b = [
      msg("b", 0, { latencies: lat(2000, 7), errorCounts: { timeout: 1n }, statusCounts: { 200: 6n } }),
      msg("b", 1, { latencies: lat(2500, 9) }),
      msg("b", 2, { latencies: lat(3000, 3), statusCounts: { 503: 3n }, final: true }),
    ];
    for (let k = 0; k < 3; k++) {
      live.apply(a[k]!);
      live.apply(b[k]!);
    }
    expect(live.allDone).toBe(true);
    const { test, report } = end(live, { state: TestState.COMPLETED, message: "" }, START_MS + 3500);

    expect(test.state).toBe(TestState.COMPLETED);
    expect(test.partial).toBe(false);
    expect(test.message).toBe("");
    expect(msOf(test.endedAt!)).toBe(START_MS + 3500);
    expect(report.state).toBe(TestState.COMPLETED);
    expect(report.testId).toBe("t1");
    expect(report.spec?.reportIntervalMs).toBe(INTERVAL_MS);

    const total = report.total!;
    expect(total.requests).toBe(54n);
    expect(total.statusCounts).toEqual({ 200: 10n + 18n + 5n + 6n + 9n, 404: 2n, 503: 3n });
    expect(total.errorCounts).toEqual({ timeout: 1n });
    expect(total.errors).toBe(2n + 3n + 1n);
    expect(total.bytesReceived).toBe(540n);
    expect(total.latency!.count).toBe(54n);
    expect(decodeHistogram(total.latency!.histogram).totalCount).toBe(54);
    // Whole run from start_at to the last interval end: 54 requests over 3 s.
    expect(msOf(total.start!)).toBe(START_MS);
    expect(msOf(total.end!)).toBe(START_MS + 3000);
    expect(total.requestsPerS).toBeCloseTo(18, 9);

    // The exact merge: percentiles equal a histogram of every latency recorded.
    const all = createLatencyHistogram();
    for (const m of [...a, ...b]) all.add(decodeHistogram(m.latencyHistogram));
    expect(total.latency!.p50Us).toBe(BigInt(all.getValueAtPercentile(50)));
    expect(total.latency!.p99Us).toBe(BigInt(all.getValueAtPercentile(99)));
    expect(total.latency!.maxUs).toBe(BigInt(all.maxValue));

    expect(report.drivers.map((d) => d.driverId)).toEqual(["a", "b"]);
    const [ra, rb] = report.drivers;
    expect(ra!.stats!.requests).toBe(35n);
    expect(rb!.stats!.requests).toBe(19n);
    expect(ra!.stats!.statusCounts).toEqual({ 200: 33n, 404: 2n });
    expect(rb!.stats!.statusCounts).toEqual({ 200: 15n, 503: 3n });
    expect(ra!.stats!.latency!.count + rb!.stats!.latency!.count).toBe(total.latency!.count);
    expect(ra!.finished && rb!.finished).toBe(true);
    expect(ra!.message + rb!.message).toBe("");
    expect(report.partial).toBe(false);

    expect(report.intervals.map((i) => i.requests)).toEqual([17n, 29n, 8n]);
    expect(report.intervals.reduce((s, i) => s + i.requests, 0n)).toBe(total.requests);
  });

  it("lose() lets intervals proceed; finish() reports partial with the lost driver named", () => {
    const live = liveOf(newTest());
    const w = watcher(live);
    live.apply(msg("a", 0, { latencies: lat(100, 2) }));
    live.apply(msg("b", 0, { latencies: lat(100, 3) }));
    live.apply(msg("a", 1, { latencies: lat(100, 4) }));
    live.apply(msg("a", 2, { latencies: lat(100, 5), final: true }));
    expect(w.intervals()).toEqual([0]);
    expect(live.allDone).toBe(false);

    live.lose("b", "driver b went missing (no heartbeat for 3000 ms)");
    expect(w.intervals()).toEqual([0, 1, 2]);
    expect(live.allDone).toBe(true);
    // What a lost driver still delivers before the test ends counts (Kafka may bring its metrics
    // after the news that it left); losing it twice changes nothing.
    live.apply(msg("b", 1, { latencies: lat(100, 100) }));
    live.lose("b", "again");

    const { test, report } = end(live, { state: TestState.COMPLETED, message: "" });
    expect(test.state).toBe(TestState.COMPLETED);
    expect(test.partial).toBe(true);
    expect(test.message).toContain("driver b");
    expect(test.message).not.toContain("again");
    expect(report.partial).toBe(true);
    expect(report.message).toBe(test.message);
    expect(report.total!.requests).toBe(114n);
    const rb = report.drivers.find((d) => d.driverId === "b")!;
    expect(rb.finished).toBe(false);
    expect(rb.message).toContain("driver b");
    expect(rb.stats!.requests).toBe(103n);
    const last = w.updates.at(-1)!;
    expect(last.report?.partial).toBe(true);
    expect(last.drivers.find((d) => d.driverId === "b")!.lost).toBe(true);
  });

  it("a cancelled run flushes pending intervals and is not partial", () => {
    const live = liveOf(newTest());
    live.apply(msg("a", 0, { latencies: lat(100, 2) }));
    live.apply(msg("a", 1, { latencies: lat(100, 3) }));
    live.apply(msg("b", 0, { latencies: lat(100, 1) }));
    const { test, report } = end(live, { state: TestState.CANCELLED, message: "cancelled by the user" });
    expect(test.state).toBe(TestState.CANCELLED);
    expect(test.partial).toBe(false);
    expect(test.message).toBe("cancelled by the user");
    expect(report.intervals.map((i) => i.requests)).toEqual([3n, 3n]);
    expect(report.total!.requests).toBe(6n);
  });

  it("a driver's error on its final message is reported", () => {
    const live = liveOf(newTest());
    live.apply(msg("a", 0, { latencies: [100], final: true }));
    live.apply(msg("b", 0, { final: true, error: "driver b could not resolve the target" }));
    expect(live.allDone).toBe(true);
    const { test, report } = end(live, { state: TestState.COMPLETED, message: "" });
    expect(test.message).toContain("could not resolve");
    expect(report.drivers.find((d) => d.driverId === "b")!.message).toContain("could not resolve");
    expect(report.total!.requests).toBe(1n);
  });

  it("fleet_start_skew_us is the latest start minus the earliest; late starts are flagged", () => {
    const live = liveOf(newTest(["a", "b", "c"]));
    live.apply(msg("a", 0, { latencies: [100], skewUs: 1_200n, final: true }));
    live.apply(msg("b", 0, { latencies: [100], skewUs: -300n, final: true }));
    live.apply(msg("c", 0, { latencies: [100], skewUs: LATE_START_US + 1n, final: true }));
    const { report } = end(live, { state: TestState.COMPLETED, message: "" });
    expect(report.fleetStartSkewUs).toBe(LATE_START_US + 1n + 300n);
    const skew = Object.fromEntries(report.drivers.map((d) => [d.driverId, [d.startSkewUs, d.lateStart]]));
    expect(skew).toEqual({ a: [1_200n, false], b: [-300n, false], c: [LATE_START_US + 1n, true] });
  });

  it("fleet skew of two drivers; no skew known gives 0", () => {
    const two = liveOf(newTest());
    two.apply(msg("a", 0, { latencies: [100], skewUs: 1_200n, final: true }));
    two.apply(msg("b", 0, { latencies: [100], skewUs: -300n, final: true }));
    expect(end(two, { state: TestState.COMPLETED, message: "" }).report.fleetStartSkewUs).toBe(1_500n);

    const none = liveOf(newTest());
    none.lose("a", "driver a left the fleet");
    none.lose("b", "driver b left the fleet");
    const { report } = end(none, { state: TestState.COMPLETED, message: "" }, START_MS + 10);
    expect(report.fleetStartSkewUs).toBe(0n);
    expect(report.total!.requests).toBe(0n);
    expect(report.intervals).toEqual([]);
    expect(report.partial).toBe(true);
    expect(report.message).toContain("driver a");
    expect(report.message).toContain("driver b");
  });

  it("ignores unknown drivers and anything after a driver's final message", () => {
    const live = liveOf(newTest());
    live.apply(msg("zz", 0, { latencies: lat(100, 50) }));
    live.apply(msg("a", 0, { latencies: [100], final: true }));
    live.apply(msg("a", 1, { latencies: lat(100, 50) }));
    live.apply(msg("b", 0, { latencies: [100], final: true }));
    const { report } = end(live, { state: TestState.COMPLETED, message: "" });
    expect(report.total!.requests).toBe(2n);
    expect(report.drivers.map((d) => d.driverId)).toEqual(["a", "b"]);
  });
});

describe("cover: the intervals a driver delivered, as ranges", () => {
  it("extends in order, opens a gap, and merges out-of-order arrivals", () => {
    const r: [number, number][] = [];
    for (const k of [0, 1, 2, 2, 6, 7, 4, 3, 5, 10]) cover(r, k);
    expect(r).toEqual([
      [0, 7],
      [10, 10],
    ]);
    const s: [number, number][] = [];
    for (const k of [5, 1, 3]) cover(s, k);
    expect(s).toEqual([
      [1, 1],
      [3, 3],
      [5, 5],
    ]);
    cover(s, 2);
    cover(s, 4);
    expect(s).toEqual([[1, 5]]);
  });
});
