/**
 * Hostile records on the bus cost only themselves: a metrics batch with a huge driver id, bytes
 * that do not decode and a valid message for another test is stored and applied for every good
 * record in it (exactly once across a restart); forged heartbeats and registrations with huge
 * fields are refused, and the fleet streams keep working.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBus, type RawRecord, type Transport } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { HeartbeatMessageSchema, RegisterMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { OrchestratorService, WatchDriversResponseSchema } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { Fleet } from "../orchestrator/fleet.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { orchestratorRoutes } from "../orchestrator/routes.js";
import { Store } from "../orchestrator/store.js";
import { heartbeat, metrics, registerAll, REQUESTS_PER_INTERVAL } from "./fake-fleet.js";
import { spec, until } from "./helpers.js";

const quiet = () => {};
const avalanche = (driverCount: number) =>
  spec({
    targetUrl: "http://127.0.0.1:9/",
    driverCount,
    reportIntervalMs: 1000,
    startDelayMs: 100,
    workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 60_000 } } },
  });

describe("hostile records on the bus cost only themselves", () => {
  let dir: string;
  const open: Orchestrator[] = [];
  const openOrchestrator = async (transport: Transport) => {
    const bus = createBus(transport, { log: quiet });
    const o = await Orchestrator.open({ bus, dataDir: dir, log: quiet });
    open.push(o);
    return { o, bus };
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-hostile-"));
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it("a metrics batch with a huge driver id, truncated bytes and another test's message: the good records are stored and count once across a restart", async () => {
    const fleet = ["h1", "h2", "h3"];
    const first = createMemoryTransport();
    const { o: o1, bus: bus1 } = await openOrchestrator(first);
    await registerAll(first, fleet);
    await until(() => o1.fleet.size === 3, 5000, "3 drivers registered");
    const test = o1.createTest(avalanche(3));
    const startAtMs = msOf((await o1.startTest(test.id)).startAt!);
    const good = (seq: number) => fleet.map((d) => metrics(test.id, d, seq, startAtMs, 1000));
    const whole = metrics(test.id, "h1", 1, startAtMs, 1000);
    const hostile: RawRecord[] = [
      metrics(test.id, "x".repeat(5000), 0, startAtMs, 1000),
      { ...whole, value: whole.value.subarray(0, whole.value.length - 7) },
      metrics("5d1e2c80-0000-4000-8000-000000000000", "h1", 0, startAtMs, 1000),
    ];
    // One batch: good records before and after the hostile ones.
    const batch = [...good(0).slice(0, 2), ...hostile, good(0)[2]!, ...good(1)];
    await first.send(batch);
    await until(() => o1.stats.metricsApplied === 6 && o1.stats.batches >= 1, 5000, "the 6 good records applied and stored");
    expect(o1.stats.metricsInvalid).toBe(1);
    expect(o1.stats.metricsIgnored).toBe(1);
    expect(bus1.stats.undecodable).toBe(1);
    await o1.close();
    open.length = 0;

    // Restarted, the whole batch comes again (it may not have been acknowledged), then the finals.
    const second = createMemoryTransport();
    const { o: o2 } = await openOrchestrator(second);
    await second.send(fleet.map((d) => heartbeat(d, test.id)));
    await second.send([...batch, ...fleet.map((d) => metrics(test.id, d, 2, startAtMs, 1000, true))]);
    await until(() => o2.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test completed");
    const report = o2.getReport(test.id);
    expect(report.partial, report.message).toBe(false);
    expect(o2.stats.metricsDuplicate).toBe(6);
    expect(report.total!.requests).toBe(BigInt(3 * 2 * REQUESTS_PER_INTERVAL));
    expect(report.intervals.map((i) => i.requests)).toEqual([0, 1].map(() => BigInt(3 * REQUESTS_PER_INTERVAL)));
  });

  it("40 forged drivers with 1 MB test and instance ids are refused: the fleet and its first WatchDrivers message stay small", async () => {
    const transport = createMemoryTransport();
    const { o } = await openOrchestrator(transport);
    await registerAll(transport, ["g1", "g2"]);
    await until(() => o.fleet.size === 2, 5000, "2 drivers registered");
    const huge = "t".repeat(1 << 20);
    const forged: RawRecord[] = [];
    for (let i = 0; i < 20; i++) {
      const beat = create(HeartbeatMessageSchema, { driverId: `forged-${i}`, state: DriverState.BUSY, testId: huge });
      const beat2 = create(HeartbeatMessageSchema, { driverId: `forged-i${i}`, state: DriverState.READY, instanceId: huge });
      const reg = create(RegisterMessageSchema, { driverId: `forged-r${i}`, instanceId: huge });
      forged.push(
        { topic: "heartbeat", key: beat.driverId, value: toBinary(HeartbeatMessageSchema, beat) },
        { topic: "heartbeat", key: beat2.driverId, value: toBinary(HeartbeatMessageSchema, beat2) },
        { topic: "register", key: reg.driverId, value: toBinary(RegisterMessageSchema, reg) },
      );
    }
    // A known driver's beat with a huge test id is refused too: it keeps its last good state.
    forged.push({ topic: "heartbeat", key: "g1", value: toBinary(HeartbeatMessageSchema, create(HeartbeatMessageSchema, { driverId: "g1", state: DriverState.BUSY, testId: huge })) });
    await transport.send(forged);
    await transport.send([heartbeat("g2")]);
    await until(() => o.fleet.invalid === 61, 5000, "61 forged messages refused");
    expect(o.fleet.list().map((d) => d.id)).toEqual(["g1", "g2"]);
    expect(o.fleet.get("g1")!.state).toBe(DriverState.READY);
    // WatchDrivers through the routes, over an in-memory transport.
    const client = createClient(OrchestratorService, createRouterTransport(orchestratorRoutes(o)));
    const stream = client.watchDrivers({})[Symbol.asyncIterator]();
    const first = await stream.next();
    await stream.return?.();
    expect(first.done).toBe(false);
    expect(toBinary(WatchDriversResponseSchema, first.value!).byteLength).toBeLessThan(4096);
  });

  it("the fleet keeps at most its bound of drivers: a new one takes the place of one that left or went missing, else it is refused", async () => {
    const store = new Store(dir);
    try {
      const fleet = new Fleet(store, 1000, 5);
      for (let i = 0; i < 5; i++) fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: `k${i}`, state: DriverState.READY }));
      fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "extra", state: DriverState.READY }));
      expect(fleet.size).toBe(5);
      expect(fleet.get("extra")).toBeUndefined();
      expect(fleet.overflow).toBe(1);
      // Two leave: the next newcomers take their places, the one heard from longest ago (k1) first; then full again.
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "k3", leaving: true }));
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "k1", leaving: true }));
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "n1" }));
      expect(fleet.get("k1")).toBeUndefined();
      expect(fleet.get("k3")!.state).toBe(DriverState.LEFT);
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "n2" }));
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "n3" }));
      expect(fleet.list().map((d) => d.id)).toEqual(["k0", "k2", "k4", "n1", "n2"]);
      expect(fleet.get("n3")).toBeUndefined();
      expect(fleet.overflow).toBe(2);
    } finally {
      await store.close();
    }
  });
});
