import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, runToEnd, spec, targetCounts, until, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");

describe("a distributed fleet over a real Kafka broker: every piece its own OS process", () => {
  const kafka = inject("kafkaBootstrap");
  const prefix = `e2e-${process.pid}-`;
  const procs: KannonProcess[] = [];
  let dataDir: string;
  let apiUrl: string;
  let targetUrl: string;
  let client: OrchestratorClient;
  let orchestrator: KannonProcess;
  const startOrchestrator = async () => {
    const orch = await startKannon(
      ["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"],
      /listening on (http:\/\/\S+)/,
    );
    procs.push(orch.proc);
    orchestrator = orch.proc;
    apiUrl = orch.match[1]!;
    client = grpcClient(apiUrl);
  };

  const startDriver = async (id: string) => {
    const { proc } = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id], /joined the fleet/);
    procs.push(proc);
    return proc;
  };
  const readyIds = async () =>
    (await client.listDrivers({})).drivers.filter((d) => d.state === DriverState.READY).map((d) => d.id).sort();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-kafka-e2e-"));
    const target = await startKannon(["target", "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(target.proc);
    targetUrl = target.match[1]!;
    await startOrchestrator();
    await Promise.all(["d1", "d2", "d3"].map(startDriver));
    await until(async () => (await readyIds()).length === 3, 20_000, "3 drivers READY");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a second driver process with a live driver's id is refused, with a clear message on both sides", async () => {
    const { child, output, stop } = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", "d1"], /joined the fleet/).then((r) => r.proc);
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(-1), 20_000);
      child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
    });
    if (code === -1) await stop("SIGKILL");
    expect(code, output()).toBe(1);
    expect(output()).toMatch(/refused by the orchestrator: driver id "d1" is already used by a live process .* give it another --id/);
    expect(orchestrator.output()).toMatch(/driver id "d1" is already used by a live process/);
    // The first d1 is untouched: still READY, and the fleet has one d1.
    expect(await readyIds()).toEqual(["d1", "d2", "d3"]);
  });

  it("a test created, started and watched through the API: exact totals, no errors, every interval streamed", async () => {
    const before = await targetCounts(targetUrl);
    const { id, messages } = await runToEnd(
      client,
      spec({
        targetUrl: `${targetUrl}/ping`,
        reportIntervalMs: 250,
        workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 1500n } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    const after = await targetCounts(targetUrl);
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.partial).toBe(false);
    expect(report!.total!.requests).toBe(4500n);
    expect(report!.drivers.map((d) => d.driverId).sort()).toEqual(["d1", "d2", "d3"]);
    expect(report!.drivers.reduce((s, d) => s + d.stats!.requests, 0n)).toBe(4500n);
    expect(after.requests - before.requests).toBe(4500);
    expect(report!.total!.errors).toBe(0n);
    const streamed = messages.filter((m) => m.interval).map((m) => m.interval!.interval);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed).toEqual(streamed.map((_, i) => i));
    expect(streamed).toEqual(report!.intervals.map((i) => i.interval));
    expect(messages.at(-1)!.test!.state).toBe(TestState.COMPLETED);
  });

  it("the same flow with buf curl over gRPC (h2c): create, start, a streamed watch ending in the terminal state", async () => {
    const buf = join(root, "node_modules", ".bin", "buf");
    const curl = async (method: string, body: object) =>
      (
        await run(
          buf,
          ["curl", "--http2-prior-knowledge", "--protocol", "grpc", "--schema", ".", "-d", JSON.stringify(body), `${apiUrl}/kannon.v1.OrchestratorService/${method}`],
          { cwd: root, timeout: 60_000 },
        )
      ).stdout;
    const created = JSON.parse(
      await curl("CreateTest", {
        spec: { targetUrl: `${targetUrl}/`, reportIntervalMs: 200, tsunami: { delayMs: 10, durationMs: 1000 } },
      }),
    ) as { test: { id: string; state: string } };
    expect(created.test.state).toBe("TEST_STATE_CREATED");
    const started = JSON.parse(await curl("StartTest", { testId: created.test.id })) as { test: { state: string; driverIds: string[] } };
    expect(started.test.state).toBe("TEST_STATE_STARTING");
    expect(started.test.driverIds).toHaveLength(3);
    const watched = await curl("WatchTest", { testId: created.test.id });
    // buf curl prints one JSON document per streamed message.
    const docs = watched.split(/\n(?=\{)/).map((d) => JSON.parse(d) as { test: { state: string }; interval?: object; report?: { total: { requests: string } } });
    expect(docs.filter((d) => d.interval).length).toBeGreaterThanOrEqual(5);
    const last = docs.at(-1)!;
    expect(last.test.state).toBe("TEST_STATE_COMPLETED");
    expect(Number(last.report!.total.requests)).toBeGreaterThanOrEqual(3 * 99);
  });

  it("a driver that starts after the orchestrator joins and is used by the next test", async () => {
    await startDriver("d4");
    await until(async () => (await readyIds()).includes("d4"), 20_000, "d4 READY");
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: `${targetUrl}/ping`,
        driverCount: 4,
        workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 100n } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.drivers.map((d) => d.driverId).sort()).toEqual(["d1", "d2", "d3", "d4"]);
    expect(report!.drivers.find((d) => d.driverId === "d4")!.stats!.requests).toBe(100n);
    expect(report!.total!.requests).toBe(400n);
  });

  it("a driver stopped with SIGTERM mid-test delivers its final metrics, then leaves the fleet", async () => {
    const d5 = await startDriver("d5");
    await until(async () => (await readyIds()).includes("d5"), 20_000, "d5 READY");
    const before = await targetCounts(targetUrl);
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: `${targetUrl}/ping`,
        driverCount: 5,
        reportIntervalMs: 250,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 4000 } } },
      }),
    });
    await client.startTest({ testId: test!.id });
    await until(async () => (await client.getTest({ testId: test!.id })).test!.state === TestState.RUNNING, 10_000, "RUNNING");
    await new Promise((r) => setTimeout(r, 1000));
    expect(await d5.stop("SIGTERM")).toBe(0);
    expect(d5.output()).toContain("leaving the fleet");
    let final;
    for await (const m of client.watchTest({ testId: test!.id })) if (m.report) final = m.report;
    const after = await targetCounts(targetUrl);
    const r5 = final!.drivers.find((d) => d.driverId === "d5")!;
    expect(r5.finished).toBe(true);
    expect(r5.message).toContain("shut down");
    expect(Number(r5.stats!.requests)).toBeGreaterThan(50);
    expect(Number(r5.stats!.requests)).toBeLessThan(350);
    expect(final!.state).toBe(TestState.COMPLETED);
    expect(final!.partial).toBe(true);
    // Nothing the stopped driver sent was lost: the report still matches the target.
    expect(final!.total!.requests).toBe(BigInt(after.requests - before.requests));
    await until(
      async () => (await client.listDrivers({})).drivers.find((d) => d.id === "d5")?.state === DriverState.LEFT,
      10_000,
      "d5 LEFT",
    );
  });

  it("`kannon test` runs a test on the running orchestrator from another process and exits 0 with the report", async () => {
    const ready = (await readyIds()).length;
    const before = await targetCounts(targetUrl);
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "cli/kannon.ts", "test", "--api", apiUrl, "--url", `${targetUrl}/ping`, "--requests", "100", "--concurrency", "2"],
      { cwd: root, timeout: 60_000 },
    );
    const after = await targetCounts(targetUrl);
    expect(stdout).toMatch(/: COMPLETED/);
    expect(stdout).toContain(`requests: ${ready * 100} `);
    expect(after.requests - before.requests).toBe(ready * 100);
  });

  it("an orchestrator stopped mid-run and started again on its data directory finishes the test with exact totals", async () => {
    const before = await targetCounts(targetUrl);
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: `${targetUrl}/ping`,
        reportIntervalMs: 250,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 4000 } } },
      }),
    });
    const id = test!.id;
    await client.startTest({ testId: id });
    await until(async () => (await client.getTest({ testId: id })).test!.state === TestState.RUNNING, 10_000, "RUNNING");
    await new Promise((r) => setTimeout(r, 800));
    expect(await orchestrator.stop("SIGTERM")).toBe(0);
    // The drivers go on and publish into Kafka while no orchestrator listens.
    await new Promise((r) => setTimeout(r, 1500));
    await startOrchestrator();
    let final;
    for await (const m of client.watchTest({ testId: id }, { timeoutMs: 60_000 })) if (m.report) final = m.report;
    const after = await targetCounts(targetUrl);
    expect(final!.state).toBe(TestState.COMPLETED);
    expect(final!.partial).toBe(false);
    expect(final!.total!.errors).toBe(0n);
    expect(final!.total!.requests).toBe(BigInt(after.requests - before.requests));
    expect(final!.drivers.every((d) => d.finished)).toBe(true);
    const intervals = final!.intervals.map((i) => i.interval);
    expect(intervals).toEqual(intervals.map((_, i) => i));
  });
});
