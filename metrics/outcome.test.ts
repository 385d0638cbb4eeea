import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { TestSpecSchema, TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { IntervalRecorder } from "../driver/load/recorder.js";
import { readFileSync } from "node:fs";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "./histogram.js";
import { isFailedStatus, judgeOutcome } from "./outcome.js";
import { MetricsAccumulator } from "./stats.js";

/** A metrics message from a recorder's interval. */
function messageOf(r: IntervalRecorder, seq = 0) {
  const s = r.take();
  return create(MetricsMessageSchema, {
    testId: "t",
    driverId: "d",
    seq: BigInt(seq),
    requests: BigInt(s.requests),
    statusCounts: Object.fromEntries([...s.statusCounts].map(([k, v]) => [k, BigInt(v)])),
    errorCounts: Object.fromEntries([...s.errorCounts].map(([k, v]) => [k, BigInt(v)])),
    latencyHistogram: s.latencyHistogram,
    serviceTimeHistogram: s.serviceTimeHistogram,
    failedLatencyHistogram: s.failedLatencyHistogram,
  });
}

describe("failed requests", () => {
  it("the rule: transport errors and statuses outside 100..399 fail", () => {
    expect([200, 204, 301, 399].filter(isFailedStatus)).toEqual([]);
    expect([0, 99, 400, 404, 500, 599, 600].filter(isFailedStatus)).toEqual([0, 99, 400, 404, 500, 599, 600]);
  });

  it("a recorder keeps failed requests' latency out of the response-time histograms", () => {
    const r = new IntervalRecorder(true);
    // 3 successes at 2 ms (service 1 ms), two 500s at 50 ms, one 404 at 7 ms, two refused at 0.5 ms.
    for (let i = 0; i < 3; i++) r.response(200, 10, 0, 1, 2);
    for (let i = 0; i < 2; i++) r.response(500, 10, 0, 1, 50);
    r.response(404, 10, 0, 1, 7);
    for (let i = 0; i < 2; i++) r.error("connect_refused", 0, 0.25, 0.5);
    const acc = new MetricsAccumulator();
    acc.add(messageOf(r));
    const s = acc.toStats();
    expect(s.requests).toBe(8n);
    expect(s.errors).toBe(5n);
    expect(s.latency?.count).toBe(3n);
    expect(s.latency?.maxUs).toBe(2000n);
    expect(s.serviceTime?.count).toBe(3n);
    expect(s.serviceTime?.maxUs).toBe(1000n);
    expect(s.failedLatency?.count).toBe(5n);
    expect(s.failedLatency?.minUs).toBe(500n);
    // 49,991..50,023 µs share the 50 ms bucket at 3 significant digits.
    expect(Number(s.failedLatency?.maxUs)).toBeGreaterThanOrEqual(50_000);
    expect(Number(s.failedLatency?.maxUs)).toBeLessThan(50_050);
  });

  it("an all-failing interval has no response-time samples", () => {
    const r = new IntervalRecorder(false);
    for (let i = 0; i < 100; i++) r.error("connect_refused", 0, 0, 0.6);
    const acc = new MetricsAccumulator();
    acc.add(messageOf(r));
    const s = acc.toStats({ withHistogram: true });
    expect(s.latency?.count ?? 0n).toBe(0n);
    expect(s.failedLatency?.count).toBe(100n);
    expect(s.failedLatency?.p50Us).toBe(600n);
    // Stored intervals carry the failed histogram and merge again exactly.
    const again = new MetricsAccumulator();
    again.addStats(s);
    again.addStats(s);
    expect(again.toStats().failedLatency?.count).toBe(200n);
  });

  it("an older driver's message (failures, no failed histogram) merges with its latency as it was", () => {
    const old = createLatencyHistogram();
    for (let i = 0; i < 10; i++) recordUs(old, 1000 + i);
    const acc = new MetricsAccumulator();
    acc.add(create(MetricsMessageSchema, { requests: 10n, errorCounts: { timeout: 4n }, latencyHistogram: encodeHistogram(old) }));
    const r = new IntervalRecorder(false);
    r.error("timeout", 0, 0, 3);
    r.response(200, 1, 0, 0, 1);
    acc.add(messageOf(r, 1));
    const s = acc.toStats();
    expect(s.requests).toBe(12n);
    expect(s.errors).toBe(5n);
    expect(s.latency?.count).toBe(11n);
    expect(s.failedLatency?.count).toBe(1n);
  });
});

describe("judgeOutcome", () => {
  const spec = create(TestSpecSchema, {});
  const stats = (requests: bigint, statusCounts: Record<number, bigint>, errorCounts: Record<string, bigint>) => {
    let errors = 0n;
    for (const v of Object.values(errorCounts)) errors += v;
    for (const [k, v] of Object.entries(statusCounts)) if (isFailedStatus(Number(k))) errors += v;
    return { requests, errors, statusCounts, errorCounts };
  };

  it("every request failed: failing, with the error kinds", () => {
    const o = judgeOutcome(stats(30290n, {}, { connect_refused: 30290n }), spec, TestState.COMPLETED);
    expect(o.verdict).toBe(Verdict.FAILING);
    expect(o.reasons).toEqual(["every request failed (connect_refused×30290)"]);
    expect(o.errorRate).toBe(1);
    expect(o.failed).toBe(30290n);
  });

  it("an error rate above the spec's limit (default 1 %) is failing; at or below it passes", () => {
    const s = stats(1000n, { 200: 876n, 500: 120n }, { timeout: 4n });
    const o = judgeOutcome(s, spec, TestState.RUNNING);
    expect(o.verdict).toBe(Verdict.FAILING);
    expect(o.reasons).toEqual(["error rate 12.4% above 1% (http_500×120, timeout×4)"]);
    expect(judgeOutcome(s, create(TestSpecSchema, { maxErrorRate: 0.2 }), TestState.COMPLETED).verdict).toBe(Verdict.PASSING);
    expect(judgeOutcome(stats(100n, { 200: 99n, 503: 1n }, {}), spec, TestState.COMPLETED).verdict).toBe(Verdict.PASSING);
    expect(judgeOutcome(stats(100n, { 200: 98n, 503: 2n }, {}), spec, TestState.COMPLETED).reasons).toEqual(["error rate 2% above 1% (http_503×2)"]);
  });

  it("max_error_rate 1 still fails a test where every request failed", () => {
    const o = judgeOutcome(stats(5n, { 500: 5n }, {}), create(TestSpecSchema, { maxErrorRate: 1 }), TestState.COMPLETED);
    expect(o.reasons).toEqual(["every request failed (http_500×5)"]);
  });

  it("nothing completed: not judged while running, failing once COMPLETED; a FAILED test is failing", () => {
    expect(judgeOutcome(stats(0n, {}, {}), spec, TestState.RUNNING).verdict).toBe(Verdict.UNSPECIFIED);
    expect(judgeOutcome(stats(0n, {}, {}), spec, TestState.COMPLETED).reasons).toEqual(["no request completed"]);
    expect(judgeOutcome(stats(0n, {}, {}), spec, TestState.CANCELLED).verdict).toBe(Verdict.UNSPECIFIED);
    expect(judgeOutcome(stats(10n, { 200: 10n }, {}), spec, TestState.FAILED, "driver d1 went missing").reasons).toEqual([
      "the test failed: driver d1 went missing",
    ]);
  });
});

describe("the shared recorder vectors (proto/testdata/recorder_split.json; python/tests/test_vectors.py reads them too)", () => {
  const file = JSON.parse(readFileSync(new URL("../proto/testdata/recorder_split.json", import.meta.url), "utf8")) as {
    cases: { name: string; scheduled: boolean; requests: [number | string, number, number, number][]; expected: Record<string, unknown> }[];
  };
  for (const c of file.cases)
    it(c.name, () => {
      const r = new IntervalRecorder(c.scheduled);
      for (const [what, scheduled, sent, end] of c.requests)
        if (typeof what === "number") r.response(what, 0, scheduled, sent, end);
        else r.error(what, scheduled, sent, end);
      const s = r.take();
      const summary = (bytes: Uint8Array) => {
        const h = decodeHistogram(bytes);
        return { count: h.totalCount, min: h.totalCount > 0 ? h.minNonZeroValue : 0, max: h.maxValue };
      };
      expect({
        requests: s.requests,
        latency: summary(s.latencyHistogram),
        service_time: summary(s.serviceTimeHistogram),
        failed_latency: summary(s.failedLatencyHistogram),
      }).toEqual(c.expected);
    });
});
