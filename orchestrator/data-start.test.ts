/**
 * A test's data files reach its drivers through the bus (in process): the orchestrator with three
 * real drivers (createDriver), and a stand-in driver on the bus where a test needs one that answers
 * late or never. Each driver's part is read where the load parts receive it (LoadPartOptions.data).
 */
import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createBus, type Bus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { DataReadyMessageSchema, HeartbeatMessageSchema, RegisterMessageSchema, TriggerAction, type DataChunkMessage, type TestConfigMessage, type TriggerMessage } from "../gen/kannon/v1/bus_pb.js";
import { DataFormat, DataSplit } from "../gen/kannon/v1/scenario_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import type { LoadPartOptions } from "../driver/load/load.js";
import { createTarget, type Target } from "../target/target.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { spec, until } from "../test/helpers.js";
import { Orchestrator } from "./orchestrator.js";
import type { Store } from "./store.js";

const seen = vi.hoisted(() => ({ parts: [] as LoadPartOptions[] }));
// Records what each load part is given (the part itself runs as before).
vi.mock("../driver/load/load.js", async (importOriginal) => {
  const m = await importOriginal<typeof import("../driver/load/load.js")>();
  class Recorded extends m.InlineLoadPart {
    constructor(o: LoadPartOptions) {
      super(o);
      seen.parts.push(o);
    }
  }
  return { ...m, InlineLoadPart: Recorded };
});
const ROWS = 3000;
/** id, name and a 700-character padding: ~2.1 MB, so every part travels in several chunks. */
const CSV = ["id,name,pad", ...Array.from({ length: ROWS }, (_, i) => `${i},user${i},${"p".repeat(700)}`)].join("\n");

describe("data files through the bus (in process, 3 drivers)", () => {
  let dir: string;
  let bus: Bus;
  let o: Orchestrator;
  let target: Target;
  const drivers: DriverAgent[] = [];
  const events: { topic: string; at: number; message: DataChunkMessage | TestConfigMessage | TriggerMessage | { driverId: string } }[] = [];
  const cleanups: (() => unknown)[] = [];

  beforeEach(async () => {
    seen.parts.length = 0;
    events.length = 0;
    dir = await mkdtemp(join(tmpdir(), "kannon-data-"));
    bus = createBus(createMemoryTransport());
    target = await createTarget({ host: "127.0.0.1" });
    o = await Orchestrator.open({ bus, dataDir: dir, log: () => {}, heartbeatIntervalMs: 100, dataReadyMs: 3000 });
    await bus.subscribe(
      { kind: "broadcast", id: "observer" },
      {
        data: (m) => void events.push({ topic: "data", at: performance.now(), message: m }),
        test_config: (m) => void events.push({ topic: "test_config", at: performance.now(), message: m }),
        trigger: (m) => void events.push({ topic: "trigger", at: performance.now(), message: m }),
      },
    );
    await bus.subscribe({ kind: "shared", group: "observer" }, { data_ready: (m) => void events.push({ topic: "data_ready", at: performance.now(), message: m }) });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    await Promise.all(drivers.splice(0).map((d) => d.stop({ deadlineMs: 2000 })));
    await o.close();
    await bus.close();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function fleet(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const d = createDriver({ bus, id: `d${i}`, heartbeatIntervalMs: 100, log: () => {} });
      await d.start();
      drivers.push(d);
    }
  }

  /**
   * A driver that is only messages on the bus: it registers, heartbeats, and answers data_ready
   * `ackAfterMs` after its last chunk (never when undefined). Returns what silences it for good.
   */
  async function standIn(id: string, ackAfterMs: number | undefined): Promise<() => void> {
    let testId = "";
    const beat = () =>
      bus.publish("heartbeat", id, create(HeartbeatMessageSchema, { driverId: id, testId, state: testId ? DriverState.BUSY : DriverState.READY, sentAt: timestampAt(Date.now()) }));
    const timer = setInterval(() => void beat(), 100);
    cleanups.push(() => clearInterval(timer));
    const got = new Map<string, number>();
    const sub = await bus.subscribe(
      { kind: "broadcast", id },
      {
        test_config: (m) => void (m.driverIds.includes(id) && (testId = m.testId)),
        trigger: (m) => void (m.action === TriggerAction.CANCEL && (testId = "")),
        data: (m) => {
          if (m.driverId !== id && m.driverId !== "") return;
          got.set(m.file, (got.get(m.file) ?? 0) + 1);
          if (got.get(m.file) === m.total && ackAfterMs !== undefined) {
            const rows = { [m.file]: m.partRows };
            setTimeout(() => void bus.publish("data_ready", id, create(DataReadyMessageSchema, { testId: m.testId, driverId: id, attempt: m.attempt, rows })), ackAfterMs);
          }
        },
      },
    );
    cleanups.push(() => sub.close());
    await bus.publish("register", id, create(RegisterMessageSchema, { driverId: id, host: "stand-in" }));
    await beat();
    return () => clearInterval(timer);
  }

  const scenarioSpec = (split: DataSplit, driverCount: number, durationMs?: number) =>
    spec({
      name: "data",
      targetUrl: `${target.url}/`,
      driverCount,
      workload: {
        case: "avalanche",
        value: { concurrency: 1, limit: durationMs ? { case: "durationMs", value: durationMs } : { case: "requestsPerDriver", value: 1n } },
      },
      scenarios: [{ name: "s", weight: 1, dataFile: "users.csv", steps: [{ name: "get", url: "/ping?u={{row.id}}" }] }],
      dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content: CSV, split }],
    });

  const ids = (o: LoadPartOptions) => o.data!.get("users.csv")!.rows.map((r) => Number(r[0]));
  const store = () => (o as unknown as { store: Store }).store;

  it("exclusive: each driver holds row i when i mod 3 is its index, the union is the file, and START follows the last data_ready", async () => {
    await fleet(3);
    await until(() => o.fleet.ready().length === 3, 5000, "3 READY drivers");
    const created = o.createTest(scenarioSpec(DataSplit.EXCLUSIVE, 3));
    // The stored test keeps the size, not the content.
    expect(created.spec!.dataFiles[0]).toMatchObject({ content: "", contentBytes: BigInt(Buffer.byteLength(CSV)) });
    expect(store().getData(created.id)).toEqual([CSV]);
    const started = await o.startTest(created.id);
    expect(started.spec!.dataFiles[0]).toMatchObject({ content: "", rows: BigInt(ROWS) });

    expect(seen.parts).toHaveLength(3);
    const all: number[] = [];
    for (const part of seen.parts) {
      const mine = ids(part);
      expect(part.data!.get("users.csv")!.columns).toEqual(["id", "name", "pad"]);
      expect(mine.every((id) => id % 3 === part.share.index)).toBe(true);
      expect(mine).toHaveLength(ROWS / 3);
      all.push(...mine);
    }
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i));
    // A row arrives whole: the name column matches its id.
    expect(seen.parts[0]!.data!.get("users.csv")!.rows[5]!.slice(0, 2)).toEqual([String(5 * 3 + seen.parts[0]!.share.index), `user${5 * 3 + seen.parts[0]!.share.index}`]);

    const chunks = events.filter((e) => e.topic === "data").map((e) => e.message as DataChunkMessage);
    expect(chunks.length).toBeGreaterThanOrEqual(6); // several per driver
    const config = events.find((e) => e.topic === "test_config")!.message as TestConfigMessage;
    expect(config.spec!.dataFiles[0]!.content).toBe("");
    await until(() => events.some((e) => e.topic === "trigger"), 2000, "the START");
    const readies = events.filter((e) => e.topic === "data_ready");
    const start = events.find((e) => e.topic === "trigger" && (e.message as TriggerMessage).action === TriggerAction.START)!;
    expect(readies).toHaveLength(3);
    expect(start.at).toBeGreaterThanOrEqual(Math.max(...readies.map((r) => r.at)));
    expect(events.findIndex((e) => e === start)).toBeGreaterThan(events.findIndex((e) => e === readies[2]));

    await until(() => o.getTest(created.id).state === TestState.COMPLETED, 10_000, "the end");
    // Dropped once the test ended: the orchestrator's copy, and the drivers'.
    await until(() => store().getData(created.id).length === 0, 2000, "the data to be dropped");
    expect(target.counts().requests).toBe(3);
  });

  it("whole: every driver holds every row, sent once for all", async () => {
    await fleet(3);
    await until(() => o.fleet.ready().length === 3, 5000, "3 READY drivers");
    const created = o.createTest(scenarioSpec(DataSplit.WHOLE, 3));
    await o.startTest(created.id);
    expect(seen.parts).toHaveLength(3);
    for (const part of seen.parts) expect(ids(part)).toEqual(Array.from({ length: ROWS }, (_, i) => i));
    const chunks = events.filter((e) => e.topic === "data").map((e) => e.message as DataChunkMessage);
    expect(new Set(chunks.map((c) => c.driverId))).toEqual(new Set([""]));
    expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(ROWS);
  });

  it("START waits for a driver that confirms its part late", async () => {
    await fleet(2);
    await standIn("late", 800);
    await until(() => o.fleet.ready().length === 3, 5000, "3 READY drivers");
    const created = o.createTest(scenarioSpec(DataSplit.EXCLUSIVE, 3));
    await o.startTest(created.id);
    const late = events.find((e) => e.topic === "data_ready" && (e.message as { driverId: string }).driverId === "late")!;
    const start = events.find((e) => e.topic === "trigger" && (e.message as TriggerMessage).action === TriggerAction.START)!;
    expect(late).toBeDefined();
    expect(start.at).toBeGreaterThanOrEqual(late.at);
    const firstChunk = events.find((e) => e.topic === "data")!;
    expect(start.at - firstChunk.at).toBeGreaterThanOrEqual(800);
  });

  it("a driver that never confirms: the start fails naming it, the test stays CREATED, and no driver keeps its part armed", async () => {
    await fleet(2);
    await standIn("mute", undefined);
    await until(() => o.fleet.ready().length === 3, 5000, "3 READY drivers");
    const created = o.createTest(scenarioSpec(DataSplit.EXCLUSIVE, 3));
    const t0 = performance.now();
    const err = await o.startTest(created.id).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/did not start: driver\(s\) mute did not confirm holding their part of the data files .* within \d+ ms; it stays CREATED/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2900);
    expect(o.getTest(created.id).state).toBe(TestState.CREATED);
    expect(events.some((e) => e.topic === "trigger" && (e.message as TriggerMessage).action === TriggerAction.START)).toBe(false);
    const cancel = events.find((e) => e.topic === "trigger" && (e.message as TriggerMessage).action === TriggerAction.CANCEL);
    expect((cancel?.message as TriggerMessage | undefined)?.attempt).toBe(1);
    // The real drivers were armed with their parts: the cancel frees them.
    await until(() => drivers.every((d) => d.state === DriverState.READY) && o.fleet.ready().length === 3, 3000, "every driver READY again");
    expect(target.counts().requests).toBe(0);
    // The content is kept for another attempt.
    expect(store().getData(created.id)).toEqual([CSV]);
  });

  it("a driver lost mid-test: its report says how many rows its part held, unused ones unused", async () => {
    await fleet(2);
    const silence = await standIn("lost", 0);
    await until(() => o.fleet.ready().length === 3, 5000, "3 READY drivers");
    const created = o.createTest(scenarioSpec(DataSplit.EXCLUSIVE, 3, 2000));
    const started = await o.startTest(created.id);
    silence(); // from the start on, no heartbeat: lost after 3 missed beats
    await until(() => o.getTest(created.id).state === TestState.COMPLETED, 15_000, "the end");
    const report = o.getReport(created.id);
    const lost = report.drivers.find((d) => d.driverId === "lost")!;
    const share = started.driverIds.indexOf("lost");
    let rows = 0;
    for (let i = share; i < ROWS; i += 3) rows++;
    expect(lost.message).toBe(
      `driver lost went missing (no heartbeat for 300 ms); its part of the data files (${rows} row(s) of users.csv) was its alone: the rows it had not used by then were not used`,
    );
    expect(report.partial).toBe(true);
    // A driver that finished says nothing of its rows (all of them were there to be used).
    for (const d of report.drivers.filter((d) => d.finished)) expect(d.message).not.toContain("its part of the data files");
  });

  it("a test without data files starts as before: no data message, no wait", async () => {
    await fleet(1);
    await until(() => o.fleet.ready().length === 1, 5000, "a READY driver");
    const created = o.createTest(spec({ targetUrl: `${target.url}/ping`, workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }));
    await o.startTest(created.id);
    expect(events.filter((e) => e.topic === "data" || e.topic === "data_ready")).toEqual([]);
    expect(seen.parts[0]!.data).toBeUndefined();
    await until(() => o.getTest(created.id).state === TestState.COMPLETED, 10_000, "the end");
  });
});
