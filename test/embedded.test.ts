import { toBinary } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { ReportSchema } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { grpcClient, runToEnd, spec, targetCounts, type OrchestratorClient } from "./helpers.js";

describe("zero-setup fleet on the in-process bus", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-e2e-"));
    fleet = await startEmbedded({ drivers: 3, dataDir });
    client = grpcClient(fleet.server.url);
  });
  afterAll(async () => {
    await fleet?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("avalanche of a known count: report total == sum over drivers == target count, no errors", async () => {
    const before = await targetCounts(fleet.target!.url);
    const { id, messages } = await runToEnd(
      client,
      spec({
        targetUrl: `${fleet.target!.url}/ping`,
        reportIntervalMs: 200,
        workload: { case: "avalanche", value: { concurrency: 8, limit: { case: "requestsPerDriver", value: 700n } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    const after = await targetCounts(fleet.target!.url);
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.total!.requests).toBe(2100n);
    expect(report!.drivers).toHaveLength(3);
    expect(report!.drivers.reduce((s, d) => s + d.stats!.requests, 0n)).toBe(2100n);
    for (const d of report!.drivers) expect(d.stats!.requests).toBe(700n);
    expect(after.requests - before.requests).toBe(2100);
    expect(report!.total!.errors).toBe(0n);
    expect(report!.total!.statusCounts[200]).toBe(2100n);
    expect(report!.total!.latency!.count).toBe(2100n);
    expect(report!.partial).toBe(false);
    // The stream ended with the terminal state and carried the same report.
    const last = messages.at(-1)!;
    expect(last.test!.state).toBe(TestState.COMPLETED);
    expect(toBinary(ReportSchema, last.report!)).toEqual(toBinary(ReportSchema, report!));
  });

  it("tsunami at delay_ms 20 for 1 s issues 50 ± 1 requests per driver on a start-to-start schedule", async () => {
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: `${fleet.target!.url}/delay?ms=30`,
        reportIntervalMs: 250,
        workload: { case: "tsunami", value: { delayMs: 20, limit: { case: "durationMs", value: 1000 } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state).toBe(TestState.COMPLETED);
    for (const d of report!.drivers) {
      expect(Number(d.stats!.requests)).toBeGreaterThanOrEqual(49);
      expect(Number(d.stats!.requests)).toBeLessThanOrEqual(51);
    }
    // Each request takes 30 ms but starts every 20 ms: a sleep-after-response loop would send ~20.
    expect(report!.total!.serviceTime!.p50Us).toBeGreaterThanOrEqual(30_000n);
    expect(report!.total!.errors).toBe(0n);
  });

  it("WatchTest delivers every interval in order, then the terminal state with the report", async () => {
    const { messages } = await runToEnd(
      client,
      spec({
        targetUrl: `${fleet.target!.url}/ping`,
        reportIntervalMs: 200,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 1000 } } },
      }),
    );
    const intervals = messages.filter((m) => m.interval).map((m) => m.interval!.interval);
    // 1 s at 200 ms: intervals 0..4 (and possibly a final partial one).
    expect(intervals.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(intervals).toEqual([...intervals].sort((a, b) => a - b));
    const sum = messages.filter((m) => m.interval).reduce((s, m) => s + m.interval!.requests, 0n);
    const last = messages.at(-1)!;
    expect(last.test!.state).toBe(TestState.COMPLETED);
    expect(last.report).toBeDefined();
    expect(sum).toBe(last.report!.total!.requests);
    expect(last.report!.intervals.map((i) => i.interval)).toEqual(intervals);
  });

  it("a restarted orchestrator on the same data directory serves the finished report byte for byte", async () => {
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: `${fleet.target!.url}/`,
        workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 50n } } },
      }),
    );
    const before = fleet.orchestrator.getReportBytes(id)!;
    const { report } = await client.getReport({ testId: id });
    expect(toBinary(ReportSchema, report!)).toEqual(before);
    // Stop the whole fleet, then open a fresh orchestrator on the same directory.
    await fleet.close();
    const bus = createBus(createMemoryTransport());
    const reopened = await Orchestrator.open({ bus, dataDir, log: () => undefined });
    try {
      expect(reopened.getTest(id).state).toBe(TestState.COMPLETED);
      expect(toBinary(ReportSchema, reopened.getReport(id))).toEqual(before);
      expect(reopened.getReportBytes(id)).toEqual(before);
    } finally {
      await reopened.close();
      await bus.close();
    }
    fleet = await startEmbedded({ drivers: 3, dataDir });
    client = grpcClient(fleet.server.url);
    const again = await client.getReport({ testId: id });
    expect(toBinary(ReportSchema, again.report!)).toEqual(before);
  });
});
