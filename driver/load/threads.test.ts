/**
 * A driver with N load threads (worker threads): one driver to the fleet, its threads' intervals
 * merged exactly before it publishes one. Over the in-process bus with a stand-in orchestrator and
 * a real target on 127.0.0.1, whose own count is the reference.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArrivalRateSchema, AvalancheSchema, StageSchema, TestSpecSchema, TsunamiSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "../../metrics/histogram.js";
import { MetricsAccumulator } from "../../metrics/stats.js";
import { createBus } from "../../bus/bus.js";
import { createMemoryTransport } from "../../bus/memory.js";
import { createDriver } from "../agent/driver.js";
import { nowMs } from "../clock.js";
import { MAX_DRIVER_THREADS as MAX_THREADS } from "../../workload/defaults.js";
import { checkIntervals, finalOf, harness, installCleanup, metricsOf, sendConfig, sendStart, sumRequests, until, type Harness } from "../../test/driver-harness.js";

installCleanup();

function spec(h: Harness, workload: TestSpec["workload"], reportIntervalMs = 200): TestSpec {
  return create(TestSpecSchema, { name: "threads", targetUrl: `${h.target.url}/ping`, method: "GET", reportIntervalMs, requestTimeoutMs: 2000, workload });
}

/** Runs one test on one driver and returns its metrics, checked for the interval grid. */
async function runOne(h: Harness, driverId: string, testId: string, s: TestSpec, intervalMs = 200) {
  await sendConfig(h, testId, s, [driverId]);
  const startAtMs = nowMs() + 400;
  await sendStart(h, testId, startAtMs);
  await until(() => finalOf(h, testId, driverId) !== undefined, 15_000, "the final metrics");
  return checkIntervals(h, testId, driverId, startAtMs, intervalMs);
}

describe("a driver with several load threads", () => {
  it("avalanche on 3 threads: one driver's intervals, totals equal to the target's count, percentiles equal to all raw samples", async () => {
    const h = await harness();
    const samples: number[] = [];
    const d = await h.driver({ id: "threaded", threads: 3, onSample: (latencyUs) => void samples.push(latencyUs) });
    expect(d.loadThreadIds).toHaveLength(3);
    expect(new Set(d.loadThreadIds).size).toBe(3);
    expect(d.loadThreadIds).not.toContain(0);
    const ms = await runOne(h, d.id, "t-avalanche", spec(h, { case: "avalanche", value: create(AvalancheSchema, { concurrency: 8, limit: { case: "requestsPerDriver", value: 1201n } }) }));
    expect(h.target.counts().requests).toBe(1201);
    expect(sumRequests(ms)).toBe(1201);
    const merged = new MetricsAccumulator();
    for (const m of ms) merged.add(m);
    expect(merged.requests).toBe(1201);
    // The merged histogram is exactly the histogram of every sample, whichever thread took it.
    expect(samples).toHaveLength(1201);
    const union = createLatencyHistogram();
    for (const us of samples) recordUs(union, us);
    // Compared after the same encode/decode, which keeps every bucket count (a decoded max is the top of its bucket).
    const raw = decodeHistogram(encodeHistogram(union));
    const stats = merged.toStats({ startMs: 0, endMs: 1, withHistogram: true }).latency!;
    expect(decodeHistogram(stats.histogram).outputPercentileDistribution()).toBe(raw.outputPercentileDistribution());
    for (const [p, got] of [[50, stats.p50Us], [90, stats.p90Us], [99, stats.p99Us]] as const)
      expect(Number(got), `p${p}`).toBe(raw.getValueAtPercentile(p));
    expect(Number(stats.maxUs)).toBe(raw.maxValue);
  });

  it("avalanche with fewer connections than threads sends every request (a thread without a connection gets no requests)", async () => {
    const h = await harness();
    const d = await h.driver({ id: "threaded", threads: 3 });
    const avalanche = (concurrency: number, requests: bigint) => spec(h, { case: "avalanche", value: create(AvalancheSchema, { concurrency, limit: { case: "requestsPerDriver", value: requests } }) });
    expect(sumRequests(await runOne(h, d.id, "t-one-connection", avalanche(1, 3n)))).toBe(3);
    expect(h.target.counts().requests).toBe(3);
    expect(sumRequests(await runOne(h, d.id, "t-two-connections", avalanche(2, 5n)))).toBe(5);
    expect(h.target.counts().requests).toBe(8);
  });

  it("tsunami on 2 threads takes turns on one schedule: every request once, on time", async () => {
    const h = await harness();
    const d = await h.driver({ id: "threaded", threads: 2 });
    const ms = await runOne(h, d.id, "t-tsunami", spec(h, { case: "tsunami", value: create(TsunamiSchema, { delayMs: 5, limit: { case: "requestsPerDriver", value: 150n } }) }));
    expect(h.target.counts().requests).toBe(150);
    expect(sumRequests(ms)).toBe(150);
    // On time: a tenth late at most. Threads that waited for each other would start most requests
    // late; a busy 2-core machine makes a few late now and then (4 at load average 14).
    expect(ms.reduce((n, m) => n + Number(m.late), 0)).toBeLessThan(15);
  });

  it("arrival rate on 2 threads sends exactly the one-thread schedule", async () => {
    const h = await harness();
    const workload: TestSpec["workload"] = { case: "arrivalRate", value: create(ArrivalRateSchema, { ratePerS: 250, durationMs: 400, stages: [create(StageSchema, { targetRatePerS: 50, durationMs: 400 })] }) };
    const one = await h.driver({ id: "one" });
    const msOne = await runOne(h, one.id, "t-rate-1", spec(h, workload));
    const countOne = h.target.counts().requests;
    const two = await h.driver({ id: "two", threads: 2 });
    const msTwo = await runOne(h, two.id, "t-rate-2", spec(h, workload));
    // 250/s for 0.4 s, then a ramp to 50/s over 0.4 s: 100 + 60 requests.
    expect(countOne).toBe(160);
    expect(sumRequests(msOne)).toBe(160);
    expect(h.target.counts().requests - countOne).toBe(160);
    expect(sumRequests(msTwo)).toBe(160);
    expect(metricsOf(h, "t-rate-2", "two").every((m) => m.error === "")).toBe(true);
  });

  it("refuses a thread count that is not an integer from 1 to the maximum, naming it", () => {
    const bus = createBus(createMemoryTransport());
    for (const threads of [0, -1, 1.5, MAX_THREADS + 1, Number.NaN])
      expect(() => createDriver({ bus, threads }), String(threads)).toThrow(new RegExp(`threads must be an integer from 1 to ${MAX_THREADS}`));
    void bus.close();
  });
});
