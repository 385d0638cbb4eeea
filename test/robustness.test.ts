import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { TestSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { Store } from "../orchestrator/store.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { grpcClient, spec, targetCounts, until, type OrchestratorClient } from "./helpers.js";

describe("the orchestrator against bad or hostile metrics", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-robust-"));
    fleet = await startEmbedded({ drivers: 1, dataDir });
    client = grpcClient(fleet.server.url);
  });
  afterAll(async () => {
    await fleet?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("skips a message with garbage histogram bytes and one with an absurd seq; the run stays exact and the store reopens", async () => {
    const before = await targetCounts(fleet.target!.url);
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: `${fleet.target!.url}/ping`,
        reportIntervalMs: 200,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 1000 } } },
      }),
    });
    const id = test!.id;
    await client.startTest({ testId: id });
    await until(async () => (await client.getTest({ testId: id })).test!.state === TestState.RUNNING, 5000, "RUNNING");
    // Seq 2 is one the real driver sends later: the bad copy must not be stored and block it.
    const bad = { testId: id, driverId: "driver-1", requests: 1000n, statusCounts: { 200: 1000n } };
    await fleet.bus.publish("metrics", "driver-1", create(MetricsMessageSchema, { ...bad, seq: 2n, latencyHistogram: new Uint8Array([1, 2, 3, 4]) }));
    const t0 = Date.now();
    await fleet.bus.publish("metrics", "driver-1", create(MetricsMessageSchema, { ...bad, seq: 1n << 40n }));
    await until(() => fleet.orchestrator.stats.metricsInvalid + fleet.orchestrator.stats.metricsIgnored >= 2, 2000, "both skipped");
    expect(Date.now() - t0).toBeLessThan(1000);
    let report;
    for await (const m of client.watchTest({ testId: id })) if (m.report) report = m.report;
    const after = await targetCounts(fleet.target!.url);
    expect(fleet.orchestrator.stats.metricsInvalid).toBeGreaterThanOrEqual(1);
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.total!.requests).toBe(BigInt(after.requests - before.requests));
    expect(report!.intervals.length).toBeLessThan(20);
    // Nothing bad was stored: a fresh orchestrator opens the same data directory and serves the report.
    await fleet.close();
    const bus = createBus(createMemoryTransport());
    const reopened = await Orchestrator.open({ bus, dataDir, log: () => undefined });
    expect(reopened.getReport(id).total!.requests).toBe(report!.total!.requests);
    await reopened.close();
    await bus.close();
    fleet = await startEmbedded({ drivers: 1, dataDir });
    client = grpcClient(fleet.server.url);
  });

  it("a cancel while StartTest is still sending is not lost: the test ends CANCELLED", async () => {
    const { test } = await client.createTest({
      spec: spec({ targetUrl: `${fleet.target!.url}/ping`, workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 20_000 } } } }),
    });
    const id = test!.id;
    const [started, cancelled] = await Promise.all([client.startTest({ testId: id }), client.cancelTest({ testId: id })]);
    expect(started.test!.state).toBe(TestState.STARTING);
    expect(cancelled.test!.state).toBe(TestState.CANCELLED);
    expect((await client.getTest({ testId: id })).test!.state).toBe(TestState.CANCELLED);
    await until(() => fleet.orchestrator.fleet.ready().length === 1, 5000, "driver READY again");
  });

  it("a cancel requested before an orchestrator restart still ends the test CANCELLED", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-cancel-restart-"));
    const store = new Store(dir);
    store.putTest(
      create(TestSchema, {
        id: "t-cancel",
        spec: spec({ targetUrl: "http://127.0.0.1:9/", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }),
        state: TestState.RUNNING,
        driverIds: ["ghost"],
        startAt: timestampAt(Date.now() - 1000),
        cancelRequested: true,
      }),
    );
    await store.close();
    const bus = createBus(createMemoryTransport());
    const o = await Orchestrator.open({ bus, dataDir: dir, log: () => undefined });
    try {
      await until(() => o.getTest("t-cancel").state !== TestState.RUNNING, 5000, "the test to end");
      expect(o.getTest("t-cancel").state).toBe(TestState.CANCELLED);
    } finally {
      await o.close();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
