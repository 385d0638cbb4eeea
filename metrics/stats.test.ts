import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import {
  addEncoded,
  createLatencyHistogram,
  decodeHistogram,
  encodeHistogram,
  HIGHEST_TRACKABLE_US,
  recordUs,
  type Histogram,
} from "./histogram.js";
import { latencyStats, MetricsAccumulator, msOf, timestampAt } from "./stats.js";

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Latency-like samples in µs: mostly 200 µs – 20 ms, with a long tail up to 2 s. */
function samples(seed: number, n: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => (r() < 0.98 ? 200 + r() * 20_000 : 20_000 + r() * 2_000_000));
}

function histogramOf(values: number[]): Histogram {
  const h = createLatencyHistogram();
  for (const v of values) recordUs(h, v);
  return h;
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100];

function expectSamePercentiles(a: Histogram, b: Histogram): void {
  expect(a.totalCount).toBe(b.totalCount);
  for (const p of PERCENTILES) expect(a.getValueAtPercentile(p), `p${p}`).toBe(b.getValueAtPercentile(p));
  expect(a.minNonZeroValue).toBe(b.minNonZeroValue);
  // A histogram tracks its exact max only while recording; decoded ones report the top of the max's
  // bucket (p100 above is the exact comparison); both agree to HDR precision (3 digits).
  expect(Math.abs(a.maxValue - b.maxValue)).toBeLessThanOrEqual(Math.max(a.maxValue, b.maxValue) / 1000);
  expect(a.mean).toBeCloseTo(b.mean, 6);
}

type MetricsInit = MessageInitShape<typeof MetricsMessageSchema>;

function metrics(values: number[], init: MetricsInit = {}) {
  return create(MetricsMessageSchema, {
    testId: "t1",
    driverId: "d1",
    requests: BigInt(values.length),
    latencyHistogram: encodeHistogram(histogramOf(values)),
    ...init,
  });
}

describe("histogram encoding", () => {
  it("encode/decode roundtrip keeps count, min, max and every percentile", () => {
    const h = histogramOf(samples(1, 5000));
    const bytes = encodeHistogram(h);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBeGreaterThan(0);
    const back = decodeHistogram(bytes);
    expectSamePercentiles(back, h);
    // And re-encoding the decoded histogram is stable.
    expectSamePercentiles(decodeHistogram(encodeHistogram(back)), h);
  });

  it("an empty histogram encodes to empty bytes, which decode to an empty histogram and add nothing", () => {
    const empty = createLatencyHistogram();
    expect(encodeHistogram(empty)).toEqual(new Uint8Array(0));
    expect(decodeHistogram(new Uint8Array(0)).totalCount).toBe(0);
    const h = histogramOf([100, 200]);
    addEncoded(h, new Uint8Array(0));
    expect(h.totalCount).toBe(2);
  });

  it("recordUs clamps into [1, one hour] and rounds to whole microseconds", () => {
    const h = createLatencyHistogram();
    recordUs(h, 0);
    recordUs(h, -5);
    recordUs(h, 0.4);
    recordUs(h, HIGHEST_TRACKABLE_US * 10);
    expect(h.totalCount).toBe(4);
    expect(h.minNonZeroValue).toBe(1);
    expect(h.maxValue).toBeGreaterThanOrEqual(HIGHEST_TRACKABLE_US * 0.999);
    expect(h.maxValue).toBeLessThanOrEqual(HIGHEST_TRACKABLE_US * 1.001);
    const exact = createLatencyHistogram();
    recordUs(exact, 1234.6);
    expect(exact.getValueAtPercentile(50)).toBe(1235);
  });
});

describe("MetricsAccumulator", () => {
  it("merging interval histograms equals a histogram of the union of the samples (exact percentiles)", () => {
    const parts = [samples(11, 3000), samples(12, 1), samples(13, 700), [], samples(14, 4500)];
    const acc = new MetricsAccumulator();
    for (const part of parts) acc.add(metrics(part));
    const union = histogramOf(parts.flat());
    expect(acc.requests).toBe(parts.flat().length);
    expectSamePercentiles(acc.latency.toHistogram(), union);

    const stats = acc.toStats({ withHistogram: true });
    const want = latencyStats(union, true);
    expect(stats.latency!.count).toBe(BigInt(union.totalCount));
    expect(stats.latency!.p50Us).toBe(want.p50Us);
    expect(stats.latency!.p99Us).toBe(want.p99Us);
    expect(stats.latency!.p999Us).toBe(want.p999Us);
    expect(stats.latency!.maxUs).toBe(BigInt(acc.latency.toHistogram().getValueAtPercentile(100)));
    expect(stats.latency!.minUs).toBe(want.minUs);
    expectSamePercentiles(decodeHistogram(stats.latency!.histogram), union);
  });

  it("addAll of accumulators equals adding every message to one", () => {
    const msgs = [1, 2, 3, 4].map((s) =>
      metrics(samples(s, 500), { statusCounts: { 200: 450n, 503: 50n }, bytesReceived: 1000n, serviceTimeHistogram: encodeHistogram(histogramOf(samples(s + 100, 500))) }),
    );
    const one = new MetricsAccumulator();
    for (const m of msgs) one.add(m);
    const a = new MetricsAccumulator();
    const b = new MetricsAccumulator();
    a.add(msgs[0]!);
    a.add(msgs[1]!);
    b.add(msgs[2]!);
    b.add(msgs[3]!);
    const merged = new MetricsAccumulator();
    merged.addAll(a);
    merged.addAll(b);
    expect(merged.requests).toBe(one.requests);
    expect(merged.bytesReceived).toBe(4000);
    expect([...merged.statusCounts]).toEqual([...one.statusCounts]);
    expect(merged.serviceTime).toBeDefined();
    expectSamePercentiles(merged.latency.toHistogram(), one.latency.toHistogram());
    expectSamePercentiles(merged.serviceTime!.toHistogram(), one.serviceTime!.toHistogram());
    // An empty accumulator adds nothing and leaves the window alone.
    merged.addAll(new MetricsAccumulator());
    expect(merged.requests).toBe(one.requests);
  });

  it("sums counts by status and by error kind, and the other counters", () => {
    const acc = new MetricsAccumulator();
    acc.add(metrics([], { requests: 10n, statusCounts: { 200: 7n, 404: 1n }, errorCounts: { timeout: 2n }, bytesReceived: 70n, dropped: 3n, late: 1n }));
    acc.add(metrics([], { requests: 5n, statusCounts: { 200: 2n, 500: 2n }, errorCounts: { timeout: 1n }, bytesReceived: 20n, dropped: 1n, late: 4n }));
    acc.add(metrics([], { requests: 1n, errorCounts: { connect_refused: 1n } }));
    expect(acc.requests).toBe(16);
    expect(Object.fromEntries(acc.statusCounts)).toEqual({ 200: 9, 404: 1, 500: 2 });
    expect(Object.fromEntries(acc.errorCounts)).toEqual({ timeout: 3, connect_refused: 1 });
    expect(acc.bytesReceived).toBe(90);
    expect(acc.dropped).toBe(4);
    expect(acc.late).toBe(5);
    // errors = error kinds (3 + 1) + statuses ≥ 400 (404: 1, 500: 2); 2xx are not errors.
    expect(acc.errors).toBe(7);
    const stats = acc.toStats();
    expect(stats.errors).toBe(7n);
    expect(stats.statusCounts).toEqual({ 200: 9n, 404: 1n, 500: 2n });
    expect(stats.errorCounts).toEqual({ timeout: 3n, connect_refused: 1n });
    expect(stats.requests).toBe(16n);
    expect(stats.dropped).toBe(4n);
    expect(stats.late).toBe(5n);
    expect(stats.bytesReceived).toBe(90n);
  });

  it("status 399 is not an error, 400 is", () => {
    const acc = new MetricsAccumulator();
    acc.add(metrics([], { requests: 3n, statusCounts: { 301: 1n, 399: 1n, 400: 1n } }));
    expect(acc.errors).toBe(1);
  });

  it("toStats gives requests/s over the interval window, or over an explicit one", () => {
    const t0 = 1_764_000_000_000;
    const acc = new MetricsAccumulator();
    acc.add(metrics(samples(5, 300), { intervalStart: timestampAt(t0), intervalEnd: timestampAt(t0 + 1000) }));
    acc.add(metrics(samples(6, 300), { intervalStart: timestampAt(t0 + 1000), intervalEnd: timestampAt(t0 + 2000) }));
    expect(acc.startMs).toBe(t0);
    expect(acc.endMs).toBe(t0 + 2000);
    const stats = acc.toStats({ interval: 3 });
    expect(stats.requestsPerS).toBeCloseTo(300, 9);
    expect(stats.interval).toBe(3);
    expect(msOf(stats.start!)).toBe(t0);
    expect(msOf(stats.end!)).toBe(t0 + 2000);
    expect(stats.latency!.histogram).toHaveLength(0);
    expect(acc.toStats({ startMs: t0 - 1000 }).requestsPerS).toBeCloseTo(200, 9);
    expect(acc.toStats({ startMs: t0, endMs: t0 + 500 }).requestsPerS).toBeCloseTo(1200, 9);
  });

  it("toStats without a window (or an empty one) reports 0 req/s and no timestamps", () => {
    const acc = new MetricsAccumulator();
    acc.add(metrics([100, 200]));
    const stats = acc.toStats();
    expect(stats.requestsPerS).toBe(0);
    expect(stats.start).toBeUndefined();
    expect(stats.end).toBeUndefined();
    expect(acc.toStats({ startMs: 5, endMs: 5 }).requestsPerS).toBe(0);
    const empty = new MetricsAccumulator().toStats();
    expect(empty.requests).toBe(0n);
    expect(empty.latency!.count).toBe(0n);
    expect(empty.serviceTime).toBeUndefined();
  });
});

describe("timestampAt / msOf", () => {
  it("roundtrip to the microsecond", () => {
    const ms = 1764000000123.456;
    const t = timestampAt(ms);
    expect(t.seconds).toBe(1764000000n);
    expect(t.nanos).toBe(123_456_000);
    expect(msOf(t)).toBe(ms);
  });

  it("rounds below the microsecond and handles whole seconds and pre-epoch instants", () => {
    expect(timestampAt(1000.0004).nanos).toBe(0);
    expect(timestampAt(1000.0006).nanos).toBe(1000);
    expect(timestampAt(2000)).toMatchObject({ seconds: 2n, nanos: 0 });
    const before = timestampAt(-0.5);
    expect(before.seconds).toBe(-1n);
    expect(before.nanos).toBe(999_500_000);
    expect(msOf(before)).toBe(-0.5);
    for (const ms of [0, 1, 999.999, 1_700_000_000_000.001, 1_764_000_000_999.999])
      expect(msOf(timestampAt(ms)), String(ms)).toBeCloseTo(ms, 3);
  });
});
