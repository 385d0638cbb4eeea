/**
 * The orchestrator at fleet scale, on the in-process bus with fake drivers (test/fake-fleet.ts):
 * liveness never waits behind a metrics backlog, a batch is applied once across a restart in the
 * middle of it, listings are paginated, DeleteTest refuses a running test, and retention keeps
 * exactly N tests. (The throughput and lag goals are measured by `npm run bench -- fleet`.)
 */
import { Code } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBus, type Transport } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { Orchestrator, type OrchestratorOptions } from "../orchestrator/orchestrator.js";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { Store } from "../orchestrator/store.js";
import { heartbeat, metrics, registerAll, REQUESTS_PER_INTERVAL } from "./fake-fleet.js";
import { grpcClient, type OrchestratorClient, rpcError, spec, until } from "./helpers.js";

const quiet = () => {};
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);
const avalanche = (driverCount: number, durationMs = 60_000, reportIntervalMs = 1000) =>
  spec({
    targetUrl: "http://127.0.0.1:9/",
    driverCount,
    reportIntervalMs,
    startDelayMs: 100,
    workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: durationMs } } },
  });

describe("orchestrator at scale (in-process bus, fake drivers)", () => {
  let dir: string;
  const open: Orchestrator[] = [];
  const openOrchestrator = async (transport: Transport, extra: Partial<OrchestratorOptions> = {}) => {
    const o = await Orchestrator.open({ bus: createBus(transport, { log: quiet }), dataDir: dir, log: quiet, ...extra });
    open.push(o);
    return o;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-scale-"));
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it("heartbeats are processed while a metrics backlog is being applied", async () => {
    const transport = createMemoryTransport();
    const o = await openOrchestrator(transport);
    const fleet = ids("d", 400);
    await registerAll(transport, [...fleet, "probe"]);
    await until(() => o.fleet.size === 401, 5000, "401 drivers registered");
    const test = o.createTest(avalanche(400));
    const started = await o.startTest(test.id);
    const startAtMs = msOf(started.startAt!);
    // 2,000 intervals with real histograms arrive at once, then a heartbeat that changes a driver.
    const backlog = fleet.flatMap((d) => [0, 1, 2, 3, 4].map((seq) => metrics(test.id, d, seq, startAtMs, 1000)));
    let appliedWhenBeatSeen = -1;
    const unsubscribe = o.fleet.subscribe((d) => {
      if (d.id === "probe" && d.state === DriverState.BUSY) appliedWhenBeatSeen = o.stats.metricsApplied;
    });
    await transport.send(backlog);
    await transport.send([heartbeat("probe", "another-test")]);
    await until(() => o.stats.metricsApplied === backlog.length, 20_000, "the backlog applied");
    unsubscribe();
    process.stderr.write(`scale: the heartbeat was handled after ${appliedWhenBeatSeen} of ${backlog.length} backlog intervals\n`);
    expect(appliedWhenBeatSeen, "the heartbeat was handled before the backlog was through").toBeGreaterThanOrEqual(0);
    expect(appliedWhenBeatSeen).toBeLessThan(backlog.length);
    await until(() => o.stats.batches >= 1, 5000, "the batch stored");
    expect(o.stats.metricsDuplicate).toBe(0);
  });

  it("a batch is applied exactly once across a restart in the middle of it", async () => {
    const fleet = ids("r", 3);
    const first = createMemoryTransport();
    const o1 = await openOrchestrator(first);
    await registerAll(first, fleet);
    await until(() => o1.fleet.size === 3, 5000, "3 drivers registered");
    const test = o1.createTest(avalanche(3, 60_000));
    const startAtMs = msOf((await o1.startTest(test.id)).startAt!);
    const batch = fleet.flatMap((d) => [0, 1, 2, 3].map((seq) => metrics(test.id, d, seq, startAtMs, 1000)));
    // The first process stores half of the batch, then dies before acknowledging any of it.
    await first.send(batch.slice(0, 6));
    await until(() => o1.stats.batches >= 1 && o1.stats.metricsApplied === 6, 5000, "half the batch stored");
    await o1.close();
    open.length = 0;

    // The restarted orchestrator replays what was stored, and gets the whole batch again.
    const second = createMemoryTransport();
    const o2 = await openOrchestrator(second);
    expect(o2.getTest(test.id).state).not.toBe(TestState.CREATED);
    await second.send(fleet.map((d) => heartbeat(d, test.id)));
    await second.send([...batch, ...fleet.map((d) => metrics(test.id, d, 4, startAtMs, 1000, true))]);
    await until(() => o2.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test completed");
    expect(o2.stats.metricsDuplicate).toBe(6);
    const report = o2.getReport(test.id);
    expect(report.partial).toBe(false);
    expect(report.total!.requests).toBe(BigInt(fleet.length * 4 * REQUESTS_PER_INTERVAL));
    expect(report.total!.latency!.count).toBe(BigInt(fleet.length * 4 * REQUESTS_PER_INTERVAL));
    expect(report.drivers.map((d) => d.stats!.requests)).toEqual(fleet.map(() => BigInt(4 * REQUESTS_PER_INTERVAL)));
    expect(report.intervals.map((i) => i.requests)).toEqual([0, 1, 2, 3].map(() => BigInt(3 * REQUESTS_PER_INTERVAL)));
    // Once the report is stored, the raw driver intervals are compacted away; the merged ones stay.
    await new Promise((r) => setTimeout(r, 200));
    await o2.close();
    open.length = 0;
    const store = new Store(dir);
    try {
      expect([...store.metricsOf(test.id)]).toHaveLength(0);
      expect([...store.intervalsOf(test.id)].map((i) => i.interval)).toEqual([0, 1, 2, 3]);
    } finally {
      await store.close();
    }
  });

  it("a driver lost before a restart is lost in the replay at the same point: the replay streams every interval, none waits for a judging tick", async () => {
    const fleet = ["s1", "s2", "s3"];
    const first = createMemoryTransport();
    const o1 = await openOrchestrator(first, { heartbeatIntervalMs: 200 });
    await registerAll(first, fleet);
    await until(() => o1.fleet.size === 3, 5000, "3 drivers registered");
    const test = o1.createTest(avalanche(3, 60_000, 100));
    const startAtMs = msOf((await o1.startTest(test.id)).startAt!);
    // s3 reports interval 0 and falls silent; s1 and s2 beat on and report intervals 0-9.
    const beats = setInterval(() => void first.send(["s1", "s2"].map((d) => heartbeat(d, test.id))), 100);
    try {
      await first.send([metrics(test.id, "s3", 0, startAtMs, 100)]);
      await until(() => o1.runningTests()[0]?.drivers.get("s3")?.lost === true, 5000, "s3 lost");
      await new Promise((r) => setTimeout(r, Math.max(0, startAtMs + 600 - Date.now())));
      await first.send(["s1", "s2"].flatMap((d) => Array.from({ length: 10 }, (_, seq) => metrics(test.id, d, seq, startAtMs, 100))));
      await until(() => o1.stats.metricsApplied === 21 && o1.runningTests()[0]!.intervalCount === 10, 5000, "10 intervals emitted");
    } finally {
      clearInterval(beats);
    }
    const lostBefore = o1.runningTests()[0]!.drivers.get("s3")!.message;
    await o1.close();
    open.length = 0;

    // Reopened: the replay itself emits the 10 intervals (nothing waits for s3 until the first tick).
    const second = createMemoryTransport();
    const o2 = await openOrchestrator(second, { heartbeatIntervalMs: 200 });
    const live = o2.runningTests()[0]!;
    expect(live.intervalCount).toBe(10);
    expect(live.drivers.get("s3")!.lost).toBe(true);
    expect(live.drivers.get("s3")!.message).toBe(lostBefore);
    await second.send(["s1", "s2"].map((d) => heartbeat(d, test.id)));
    await second.send(["s1", "s2"].map((d) => metrics(test.id, d, 10, startAtMs, 100, true)));
    await until(() => o2.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test completed");
    const report = o2.getReport(test.id);
    expect(report.partial).toBe(true);
    expect(report.message).toBe(lostBefore);
    expect(report.total!.requests).toBe(BigInt(21 * REQUESTS_PER_INTERVAL));
    expect(report.intervals.map((i) => i.requests)).toEqual([3, 2, 2, 2, 2, 2, 2, 2, 2, 2].map((n) => BigInt(n * REQUESTS_PER_INTERVAL)));
  });

  it("a test started the moment the previous one reports gets every driver (their READY beat not yet in)", async () => {
    const transport = createMemoryTransport();
    const o = await openOrchestrator(transport);
    const fleet = ids("q", 3);
    await registerAll(transport, fleet);
    await until(() => o.fleet.size === 3, 5000, "3 drivers registered");
    const first = o.createTest(avalanche(3));
    const startAtMs = msOf((await o.startTest(first.id)).startAt!);
    await transport.send(fleet.map((d) => heartbeat(d, first.id)));
    await until(() => o.fleet.list().every((d) => d.state === DriverState.BUSY), 5000, "drivers BUSY");
    await transport.send(fleet.map((d) => metrics(first.id, d, 0, startAtMs, 1000, true)));
    await until(() => o.getTest(first.id).state === TestState.COMPLETED, 5000, "the first test completed");
    // Their heartbeats still say BUSY with the first test; the next test gets all three anyway.
    expect(o.fleet.list().every((d) => d.state === DriverState.BUSY)).toBe(true);
    const second = await o.startTest(o.createTest(avalanche(3)).id);
    expect(second.driverIds).toEqual(fleet);
  });

  it("StartTest while the bus is unreachable answers unavailable and leaves the test startable", async () => {
    const transport = createMemoryTransport();
    let polled = Date.now();
    // A transport whose subscriptions report a stalled poll, as the Kafka one does while the broker is down.
    const stalling: Transport = {
      ...transport,
      subscribe: async (...args) => Object.assign(await transport.subscribe(...args), { lastPollAt: () => polled }),
      subscribeBatch: async (...args) => Object.assign(await transport.subscribeBatch(...args), { lastPollAt: () => polled }),
    };
    const o = await openOrchestrator(stalling);
    await registerAll(transport, ["u1"]);
    await until(() => o.fleet.size === 1, 5000, "a driver registered");
    const test = o.createTest(avalanche(1));
    polled = Date.now() - 10_000;
    await until(() => o.stats.busStalls === 1, 5000, "the stall noticed");
    await expect(o.startTest(test.id)).rejects.toMatchObject({ kind: "unavailable", message: expect.stringMatching(/stays CREATED/) });
    expect(o.getTest(test.id).state).toBe(TestState.CREATED);
    expect(() => o.getReport(test.id)).toThrow(/report is ready when it ends/);
    // Once polls resume, the same test starts.
    polled = Date.now();
    const keepPolling = setInterval(() => (polled = Date.now()), 50);
    try {
      await transport.send([heartbeat("u1")]);
      await until(() => o.fleet.ready().length === 1, 5000, "u1 READY");
      await new Promise((r) => setTimeout(r, 300));
      expect((await o.startTest(test.id)).state).toBe(TestState.STARTING);
    } finally {
      clearInterval(keepPolling);
    }
  });

  describe("over a real server", () => {
    let server: RunningServer;
    let client: OrchestratorClient;
    let transport: Transport;
    let o: Orchestrator;
    beforeEach(async () => {
      transport = createMemoryTransport();
      o = await openOrchestrator(transport);
      server = await startServer({ orchestrator: o, port: 0 });
      client = grpcClient(server.url);
    });
    afterEach(async () => {
      await server?.close();
    });

    it("ListTests, ListDrivers and ListIntervals page through first, middle and last pages; a bad token is invalid_argument", async () => {
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        created.push((await client.createTest({ spec: avalanche(1) })).test!.id);
        await new Promise((r) => setTimeout(r, 3)); // distinct creation instants: newest first is well defined
      }
      await client.cancelTest({ testId: created[1]! });
      await client.cancelTest({ testId: created[3]! });
      const newestFirst = [...created].reverse();

      const p1 = await client.listTests({ pageSize: 2 });
      expect(p1.tests.map((t) => t.id)).toEqual(newestFirst.slice(0, 2));
      expect(p1.nextPageToken).not.toBe("");
      const p2 = await client.listTests({ pageSize: 2, pageToken: p1.nextPageToken });
      expect(p2.tests.map((t) => t.id)).toEqual(newestFirst.slice(2, 4));
      const p3 = await client.listTests({ pageSize: 2, pageToken: p2.nextPageToken });
      expect(p3.tests.map((t) => t.id)).toEqual(newestFirst.slice(4));
      expect(p3.nextPageToken).toBe("");
      const cancelled = await client.listTests({ state: TestState.CANCELLED });
      expect(cancelled.tests.map((t) => t.id)).toEqual([created[3], created[1]]);
      expect((await client.listTests({ state: TestState.CREATED, pageSize: 1 })).tests.map((t) => t.id)).toEqual([created[4]]);
      for (const pageToken of ["garbage", "eyJrIjoidGVzdHMiLCJwIjoieCJ9" /* a tests token with a forged position */]) {
        const err = await rpcError(client.listTests({ pageToken }));
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(/page_token/);
      }

      const fleet = ids("p", 5);
      await registerAll(transport, fleet);
      await until(() => o.fleet.size === 5, 5000, "5 drivers registered");
      const d1 = await client.listDrivers({ pageSize: 2 });
      const d2 = await client.listDrivers({ pageSize: 2, pageToken: d1.nextPageToken });
      const d3 = await client.listDrivers({ pageSize: 2, pageToken: d2.nextPageToken });
      expect([d1, d2, d3].map((p) => p.drivers.map((d) => d.id))).toEqual([fleet.slice(0, 2), fleet.slice(2, 4), fleet.slice(4)]);
      expect(d3.nextPageToken).toBe("");
      expect((await rpcError(client.listDrivers({ pageToken: p1.nextPageToken }))).code).toBe(Code.InvalidArgument);

      // A run of 5 intervals from one driver, then its intervals a page at a time.
      const { test } = await client.createTest({ spec: avalanche(1, 60_000, 100) });
      const startAtMs = msOf((await client.startTest({ testId: test!.id })).test!.startAt!);
      const one = (await client.getTest({ testId: test!.id })).test!.driverIds[0]!;
      await transport.send([0, 1, 2, 3, 4].map((seq) => metrics(test!.id, one, seq, startAtMs, 100)));
      await transport.send([metrics(test!.id, one, 5, startAtMs, 100, true)]);
      await until(async () => (await client.getTest({ testId: test!.id })).test!.state === TestState.COMPLETED, 10_000, "the run completed");
      const report = (await client.getReport({ testId: test!.id })).report!;
      expect(report.intervalCount).toBe(5);
      expect(report.intervalStep).toBe(1);
      const i1 = await client.listIntervals({ testId: test!.id, pageSize: 2 });
      const i2 = await client.listIntervals({ testId: test!.id, pageSize: 2, pageToken: i1.nextPageToken });
      const i3 = await client.listIntervals({ testId: test!.id, pageSize: 2, pageToken: i2.nextPageToken });
      expect([i1, i2, i3].map((p) => p.intervals.map((s) => s.interval))).toEqual([[0, 1], [2, 3], [4]]);
      expect(i3.nextPageToken).toBe("");
      expect([...i1.intervals, ...i2.intervals, ...i3.intervals].map((s) => s.requests)).toEqual(report.intervals.map((s) => s.requests));
      expect(i1.intervals[0]!.latency!.histogram.length).toBe(0);
      expect((await rpcError(client.listIntervals({ testId: test!.id, pageToken: "x" }))).code).toBe(Code.InvalidArgument);
      expect((await rpcError(client.listIntervals({ testId: "nope" }))).code).toBe(Code.NotFound);
    });

    it("DeleteTest refuses a running test (failed_precondition) and deletes an ended one with its intervals", async () => {
      await registerAll(transport, ["x1"]);
      await until(() => o.fleet.size === 1, 5000, "a driver registered");
      const { test } = await client.createTest({ spec: avalanche(1) });
      await client.startTest({ testId: test!.id });
      const err = await rpcError(client.deleteTest({ testId: test!.id }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/STARTING|RUNNING/);
      expect((await client.getTest({ testId: test!.id })).test!.id).toBe(test!.id);
      await transport.send([metrics(test!.id, "x1", 0, Date.now(), 1000, true)]);
      await until(async () => (await client.getTest({ testId: test!.id })).test!.state !== TestState.STARTING, 10_000, "the run ended");
      await client.deleteTest({ testId: test!.id });
      expect((await rpcError(client.getTest({ testId: test!.id }))).code).toBe(Code.NotFound);
      expect((await rpcError(client.getReport({ testId: test!.id }))).code).toBe(Code.NotFound);
      expect((await rpcError(client.deleteTest({ testId: test!.id }))).code).toBe(Code.NotFound);
      expect((await rpcError(client.deleteTest({ testId: "" }))).code).toBe(Code.InvalidArgument);
    });
  });

  it("retention keeps exactly the newest N tests", async () => {
    const o = await openOrchestrator(createMemoryTransport(), { keepTests: 3 });
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      created.push(o.createTest(avalanche(1)).id);
      await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => o.listTests().items.length === 3, 5000, "retention down to 3 tests");
    expect(o.listTests().items.map((t) => t.id)).toEqual(created.slice(4).reverse());
    for (const id of created.slice(0, 4)) expect(() => o.getTest(id)).toThrow(/does not exist/);
  });
});
