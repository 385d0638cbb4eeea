import { create } from "@bufbuild/protobuf";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { ReportSchema, type Report } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { toBinary } from "@bufbuild/protobuf";
import { grpcClient, runToEnd, spec, type OrchestratorClient } from "./helpers.js";
import { startDelayServer } from "./processes.js";

/** A local server whose n-th response is delayed by `delayOf(n)` ms. */
async function delayingServer(delayOf: (n: number) => number): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const delay = delayOf(n++);
    req.resume();
    const reply = () => res.end("ok");
    if (delay > 0) setTimeout(reply, delay);
    else reply();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => n,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const msUs = (ms: number) => ms * 1000;
/**
 * The true value, in µs: no less (1 ms for timer granularity), and no more than what a busy 2-core
 * machine adds (10 ms + 10 %; a loaded run measured p50 27 ms for a 20 ms delay). The modes of 20,
 * 50 and 200 ms stay apart; tight numbers belong in npm run bench.
 */
function near(actualUs: bigint, trueMs: number) {
  expect(Number(actualUs)).toBeGreaterThanOrEqual(msUs(trueMs - 1));
  expect(Number(actualUs)).toBeLessThanOrEqual(msUs(trueMs + 10 + trueMs * 0.1));
}

describe("measurement", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  const samples: number[] = [];
  const serviceSamples: number[] = [];

  beforeAll(async () => {
    fleet = await startEmbedded({
      drivers: 3,
      target: false,
      onSample: (latencyUs, serviceUs) => {
        samples.push(latencyUs);
        serviceSamples.push(serviceUs);
      },
    });
    client = grpcClient(fleet.server.url);
  });
  /** A target that answers at once, shared by the tests that need nothing more. */
  let instant: Awaited<ReturnType<typeof delayingServer>>;
  beforeAll(async () => {
    instant = await delayingServer(() => 0);
  });
  afterAll(async () => {
    await fleet?.close();
    await instant?.close();
  });

  /** Runs a test to its end and returns its final report. */
  async function reportOf(s: TestSpec): Promise<Report> {
    const { id } = await runToEnd(client, s);
    return (await client.getReport({ testId: id })).report!;
  }

  it("percentiles from a known delay distribution are accurate, and the merge equals the union of raw samples", async () => {
    // 80 % at 20 ms, 15 % at 50 ms, 5 % at 200 ms: p50 = 20, p90 = 50, p99 = 200, each well inside its
    // band. (Delays of a few ms would sit within a loaded 2-core machine's scheduling noise.)
    const target = await startDelayServer([...Array(16).fill(20), 50, 50, 50, 200]);
    samples.length = 0;
    try {
      const report = await reportOf(
        spec({
          targetUrl: `${target.url}/`,
          reportIntervalMs: 250,
          workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 200n } } },
        }),
      );
      const l = report.total!.latency!;
      expect(report.total!.requests).toBe(600n);
      console.log(`accuracy: p50 ${l.p50Us} p90 ${l.p90Us} p99 ${l.p99Us} µs`);
      near(l.p50Us, 20);
      near(l.p90Us, 50);
      near(l.p99Us, 200);
      // Test-only check: the histogram of every driver's raw samples, merged by hand.
      const union = createLatencyHistogram();
      for (const s of samples) recordUs(union, s);
      expect(samples).toHaveLength(600);
      expect(l.count).toBe(BigInt(union.totalCount));
      // Percentiles agree exactly; compared after the same encode/decode, which keeps every bucket
      // count but not the exact extremes (a decoded min/max is the bottom/top of its bucket).
      const unionDecoded = decodeHistogram(encodeHistogram(union));
      // The whole distribution, percentile by percentile, is the same.
      expect(decodeHistogram(l.histogram).outputPercentileDistribution()).toBe(unionDecoded.outputPercentileDistribution());
      for (const [p, v] of [[50, l.p50Us], [90, l.p90Us], [95, l.p95Us], [99, l.p99Us], [99.9, l.p999Us]] as const)
        expect(v, `p${p}`).toBe(BigInt(unionDecoded.getValueAtPercentile(p)));
      expect(l.maxUs).toBe(BigInt(unionDecoded.maxValue));
      expect(l.minUs).toBe(BigInt(unionDecoded.minNonZeroValue));
    } finally {
      await target.close();
    }
  });

  it("a 500 ms stall during a 10 ms tsunami shows in the corrected latency, not in the service time", async () => {
    // One request in flight per driver (as wrk2's connections): requests due during the stall wait to be sent.
    const stallAt = 60;
    const target = await delayingServer((n) => (n === stallAt ? 500 : 0));
    try {
      const report = await reportOf(
        spec({
          targetUrl: `${target.url}/`,
          driverCount: 1,
          reportIntervalMs: 500,
          workload: { case: "tsunami", value: { delayMs: 10, maxInFlight: 1, limit: { case: "durationMs", value: 3000 } } },
        }),
      );
      const t = report.total!;
      expect(t.requests).toBeGreaterThanOrEqual(295n);
      expect(t.latency!.p99Us).toBeGreaterThanOrEqual(250_000n);
      expect(t.serviceTime!.p99Us).toBeLessThan(250_000n);
      expect(t.serviceTime!.maxUs).toBeGreaterThanOrEqual(500_000n);
      // The requests held back by the stall were started late and counted as such.
      expect(t.late).toBeGreaterThanOrEqual(40n);
    } finally {
      await target.close();
    }
  });

  it("arrival rate: 300 req/s over 3 drivers for 5 s sends 1500 ± 2 %, each driver within 5 % of its share", async () => {
    const report = await reportOf(
      spec({
        targetUrl: `${instant.url}/`,
        reportIntervalMs: 1000,
        workload: { case: "arrivalRate", value: { ratePerS: 300, durationMs: 5000, maxInFlight: 100 } },
      }),
    );
    const total = Number(report.total!.requests);
    expect(total).toBeGreaterThanOrEqual(1470);
    expect(total).toBeLessThanOrEqual(1530);
    expect(report.total!.dropped).toBe(0n);
    for (const d of report.drivers) expect(Math.abs(Number(d.stats!.requests) - 500)).toBeLessThanOrEqual(25);
    expect(report.total!.serviceTime).toBeDefined();
  });

  it("arrival rate ramp 0 → 300 req/s: per-interval counts rise monotonically", async () => {
    const report = await reportOf(
      spec({
        targetUrl: `${instant.url}/`,
        reportIntervalMs: 1000,
        workload: { case: "arrivalRate", value: { ratePerS: 0, stages: [{ targetRatePerS: 300, durationMs: 5000 }] } },
      }),
    );
    const counts = report.intervals.slice(0, 5).map((i) => Number(i.requests));
    // Ideal: 30, 90, 150, 210, 270 (750 in all).
    expect(counts).toHaveLength(5);
    for (let i = 1; i < counts.length; i++) expect(counts[i]!, `interval ${i} after ${counts[i - 1]}`).toBeGreaterThan(counts[i - 1]!);
    [30, 90, 150, 210, 270].forEach((ideal, i) => expect(Math.abs(counts[i]! - ideal), `interval ${i}`).toBeLessThanOrEqual(12));
    expect(Number(report.total!.requests)).toBeGreaterThanOrEqual(735);
    expect(Number(report.total!.requests)).toBeLessThanOrEqual(765);
  });

  it("idempotence: every metrics message delivered twice, and replayed after the end, changes no number", async () => {
    const target = await delayingServer(() => 1);
    const seen: MetricsMessage[] = [];
    const republished = new Set<string>();
    // A second consumer group that republishes every metrics message: the orchestrator sees each twice.
    const dup = await fleet.bus.subscribe(
      { kind: "shared", group: "duplicator" },
      {
        metrics: async (m) => {
          const key = `${m.testId}/${m.driverId}/${m.seq}`;
          if (republished.has(key)) return; // our own copy coming back
          republished.add(key);
          seen.push(create(MetricsMessageSchema, m));
          await fleet.bus.publish("metrics", m.driverId, m);
        },
      },
    );
    const before = fleet.orchestrator.stats.metricsDuplicate;
    try {
      const { id } = await runToEnd(
        client,
        spec({
          targetUrl: `${target.url}/`,
          reportIntervalMs: 200,
          workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 300n } } },
        }),
      );
      await dup.close();
      const report = fleet.orchestrator.getReport(id);
      expect(report.total!.requests).toBe(900n);
      expect(target.count()).toBe(900);
      expect(fleet.orchestrator.stats.metricsDuplicate - before).toBeGreaterThan(0);
      const bytes = toBinary(ReportSchema, report);
      for (const m of seen.filter((m) => m.testId === id)) await fleet.bus.publish("metrics", m.driverId, m);
      await new Promise((r) => setTimeout(r, 200));
      expect(toBinary(ReportSchema, fleet.orchestrator.getReport(id))).toEqual(bytes);
      expect(fleet.orchestrator.getTest(id).state).toBe(TestState.COMPLETED);
    } finally {
      await target.close();
    }
  });

  it("every driver starts at the common start_at: its measured skew is small, and the target sees each driver's first request after that driver's reported start", async () => {
    // The first request on each connection, by the target's clock (the same machine's). Avalanche at
    // concurrency 1: one connection per driver.
    const firstArrivalMs = new Map<unknown, number>();
    const target = http.createServer((req, res) => {
      if (!firstArrivalMs.has(req.socket)) firstArrivalMs.set(req.socket, performance.timeOrigin + performance.now());
      req.resume();
      res.end("ok");
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    try {
      const report = await reportOf(
        spec({
          targetUrl: `http://127.0.0.1:${(target.address() as AddressInfo).port}/`,
          workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 5n } } },
        }),
      );
      expect(report.drivers).toHaveLength(3);
      const startAtMs = Number(report.startAt!.seconds) * 1000 + report.startAt!.nanos / 1e6;
      // A late start shows as hundreds of ms to seconds (the pipelining stall of issue 25: 1.6 s);
      // scheduling noise on a busy 2-core machine stays far below this bound. Tight numbers: npm run bench.
      const boundUs = 200_000n;
      for (const d of report.drivers) {
        expect(d.startSkewUs, d.driverId).toBeGreaterThanOrEqual(0n);
        expect(d.startSkewUs, d.driverId).toBeLessThan(boundUs);
        expect(d.lateStart, d.driverId).toBe(false);
      }
      expect(report.fleetStartSkewUs).toBeGreaterThanOrEqual(0n);
      expect(report.fleetStartSkewUs).toBeLessThan(boundUs);
      // The target's view agrees: matched in order, each driver's first request arrives after its
      // reported start (1 ms for the clocks' granularity) and within the bound of start_at.
      const starts = report.drivers.map((d) => startAtMs + Number(d.startSkewUs) / 1000).sort((a, b) => a - b);
      const arrivals = [...firstArrivalMs.values()].sort((a, b) => a - b);
      console.log(`start skew: drivers ${report.drivers.map((d) => d.startSkewUs).join(", ")} µs, fleet ${report.fleetStartSkewUs} µs; first arrivals ${arrivals.map((a) => (a - startAtMs).toFixed(2)).join(", ")} ms after start_at`);
      expect(arrivals).toHaveLength(3);
      arrivals.forEach((arrivedMs, i) => {
        expect(arrivedMs, `connection ${i}`).toBeGreaterThanOrEqual(starts[i]! - 1);
        expect(arrivedMs - startAtMs, `connection ${i}`).toBeLessThan(Number(boundUs) / 1000);
      });
    } finally {
      await new Promise<void>((r) => {
        target.close(() => r());
        target.closeAllConnections();
      });
    }
  });
});
