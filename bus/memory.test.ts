import { create, equals, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeartbeatMessageSchema, MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { timestampAt } from "../metrics/stats.js";
import { swallowedCounts } from "../metrics/swallowed.js";
import { createBus, type Bus, type Transport } from "./bus.js";
import { createMemoryTransport } from "./memory.js";

let transport: Transport;
let bus: Bus;
let logged: string[];

function setup(): void {
  transport = createMemoryTransport();
  logged = [];
  bus = createBus(transport, { log: (m) => logged.push(m) });
}

afterEach(async () => {
  await bus?.close();
});

/** Waits until `cond` holds (delivery is asynchronous); fails after 2 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function heartbeat(n: number) {
  return create(HeartbeatMessageSchema, { driverId: `d${n}`, state: DriverState.READY, testId: String(n) });
}

function sampleMetrics(): MetricsMessage {
  const h = createLatencyHistogram();
  for (const us of [120, 340, 999, 15_000, 2_000_000]) recordUs(h, us);
  return create(MetricsMessageSchema, {
    testId: "test-1",
    driverId: "driver-a",
    seq: 7n,
    intervalStart: timestampAt(1764000000123.456),
    intervalEnd: timestampAt(1764000001123.456),
    requests: 5n,
    statusCounts: { 200: 4n, 503: 1n },
    errorCounts: { timeout: 2n },
    bytesReceived: 12345678901234n,
    latencyHistogram: encodeHistogram(h),
    serviceTimeHistogram: new Uint8Array([1, 2, 3]),
    dropped: 3n,
    late: 1n,
    final: true,
    startSkewUs: -42n,
    error: "",
  });
}

describe("memory transport + typed bus", () => {
  it("every broadcast subscriber gets every message", async () => {
    setup();
    const got: Record<string, string[]> = { a: [], b: [], c: [] };
    for (const id of Object.keys(got))
      await bus.subscribe({ kind: "broadcast", id }, { heartbeat: (m) => void got[id]!.push(m.driverId) });
    for (let i = 0; i < 5; i++) await bus.publish("heartbeat", `d${i}`, heartbeat(i));
    await until(() => Object.values(got).every((l) => l.length === 5), "5 messages each");
    for (const l of Object.values(got)) expect(l).toEqual(["d0", "d1", "d2", "d3", "d4"]);
    expect(bus.stats.published).toBe(5);
    expect(bus.stats.delivered).toBe(15);
  });

  it("a shared group of two gets each message once in total, spread over both members", async () => {
    setup();
    const first: string[] = [];
    const second: string[] = [];
    const watcher: string[] = [];
    await bus.subscribe({ kind: "shared", group: "orchestrator" }, { heartbeat: (m) => void first.push(m.driverId) });
    await bus.subscribe({ kind: "shared", group: "orchestrator" }, { heartbeat: (m) => void second.push(m.driverId) });
    await bus.subscribe({ kind: "broadcast", id: "w" }, { heartbeat: (m) => void watcher.push(m.driverId) });
    const n = 10;
    for (let i = 0; i < n; i++) await bus.publish("heartbeat", `d${i}`, heartbeat(i));
    await until(() => first.length + second.length === n && watcher.length === n, "all deliveries");
    // Let any stray duplicate arrive before asserting.
    await new Promise((r) => setTimeout(r, 5));
    expect(first.length + second.length).toBe(n);
    expect([...first, ...second].sort()).toEqual(watcher.slice().sort());
    expect(new Set([...first, ...second]).size).toBe(n);
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
  });

  it("subscribers only get the topics they have handlers for", async () => {
    setup();
    const heartbeats: string[] = [];
    await bus.subscribe({ kind: "broadcast", id: "x" }, { heartbeat: (m) => void heartbeats.push(m.driverId) });
    await bus.publish("metrics", "driver-a", sampleMetrics());
    await bus.publish("heartbeat", "d1", heartbeat(1));
    await until(() => heartbeats.length === 1, "the heartbeat");
    expect(bus.stats.delivered).toBe(1);
  });

  it("a typed MetricsMessage round trip is byte-faithful, with its key", async () => {
    setup();
    const received: { m: MetricsMessage; key: string }[] = [];
    const raw: Uint8Array[] = [];
    await bus.subscribe({ kind: "shared", group: "o" }, { metrics: (m, key) => void received.push({ m, key }) });
    await transport.subscribe(["metrics"], { kind: "broadcast", id: "raw" }, (r) => void raw.push(r.value));
    const sent = sampleMetrics();
    await bus.publish("metrics", "driver-a", sent);
    await until(() => received.length === 1 && raw.length === 1, "the metrics message");
    const { m, key } = received[0]!;
    expect(key).toBe("driver-a");
    expect(equals(MetricsMessageSchema, m, sent)).toBe(true);
    expect(m.bytesReceived).toBe(12345678901234n);
    expect(m.startSkewUs).toBe(-42n);
    expect(m.latencyHistogram).toEqual(sent.latencyHistogram);
    expect(toBinary(MetricsMessageSchema, m)).toEqual(toBinary(MetricsMessageSchema, sent));
    expect(raw[0]).toEqual(toBinary(MetricsMessageSchema, sent));
  });

  it("undecodable bytes are counted and skipped; the next valid message still arrives", async () => {
    setup();
    const received: bigint[] = [];
    await bus.subscribe({ kind: "shared", group: "o" }, { metrics: (m) => void received.push(m.seq) });
    // Field 1 (string) claims 5 bytes but only 1 follows; then a tag with the invalid wire type 7.
    await transport.send([{ topic: "metrics", key: "driver-a", value: new Uint8Array([0x0a, 0x05, 0x41]) }]);
    await transport.send([{ topic: "metrics", key: "driver-a", value: new Uint8Array([0x0f, 0xff]) }]);
    const ok = sampleMetrics();
    ok.seq = 8n;
    await bus.publish("metrics", "driver-a", ok);
    await until(() => received.length === 1, "the valid message");
    expect(received).toEqual([8n]);
    expect(bus.stats.undecodable).toBe(2);
    expect(bus.stats.delivered).toBe(1);
    expect(bus.stats.handlerErrors).toBe(0);
    expect(logged.filter((l) => l.includes("undecodable"))).toHaveLength(2);
    expect(logged[0]).toContain("driver-a");
  });

  it("a throwing handler is counted and does not stop delivery", async () => {
    setup();
    const seen: string[] = [];
    await bus.subscribe(
      { kind: "broadcast", id: "x" },
      {
        heartbeat: async (m) => {
          seen.push(m.driverId);
          if (m.driverId === "d1") throw new Error("boom");
          if (m.driverId === "d2") await Promise.reject(new Error("async boom"));
        },
      },
    );
    for (let i = 0; i < 4; i++) await bus.publish("heartbeat", `d${i}`, heartbeat(i));
    await until(() => seen.length === 4, "all 4 heartbeats");
    await until(() => bus.stats.handlerErrors === 2, "2 handler errors");
    expect(seen).toEqual(["d0", "d1", "d2", "d3"]);
    expect(bus.stats.delivered).toBe(4);
    expect(logged.some((l) => l.includes("boom"))).toBe(true);
  });

  it("a raw subscriber that throws is logged and counted by place; the next record still arrives", async () => {
    setup();
    const where = "memory_bus.record_handler";
    const before = swallowedCounts().get(where) ?? 0;
    const keys: string[] = [];
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      await transport.subscribe(["heartbeat"], { kind: "broadcast", id: "raw" }, (r) => {
        keys.push(r.key);
        if (r.key === "bad") throw new Error("raw boom");
      });
      await transport.send([{ topic: "heartbeat", key: "bad", value: new Uint8Array() }, { topic: "heartbeat", key: "good", value: new Uint8Array() }]);
      await until(() => keys.length === 2, "both records");
      expect(keys).toEqual(["bad", "good"]);
      expect(swallowedCounts().get(where)).toBe(before + 1);
      expect(warned.mock.calls.some(([m]) => String(m).includes(where) && String(m).includes("raw boom") && String(m).includes("key bad"))).toBe(true);
    } finally {
      warned.mockRestore();
    }
  });

  it("preserves order per subscriber, even when a handler is slow", async () => {
    setup();
    const fast: number[] = [];
    const slow: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await bus.subscribe({ kind: "broadcast", id: "fast" }, { heartbeat: (m) => void fast.push(Number(m.testId)) });
    await bus.subscribe(
      { kind: "broadcast", id: "slow" },
      {
        heartbeat: async (m) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          const n = Number(m.testId);
          // Early messages take longer than later ones; order must still hold.
          if (n % 7 === 0) await new Promise((r) => setTimeout(r, 1));
          else for (let i = 0; i < 3; i++) await Promise.resolve();
          slow.push(n);
          inFlight--;
        },
      },
    );
    const n = 50;
    await Promise.all(Array.from({ length: n }, (_, i) => bus.publish("heartbeat", "k", heartbeat(i))));
    await until(() => fast.length === n, "fast subscriber");
    await until(() => slow.length === n, "slow subscriber");
    const want = Array.from({ length: n }, (_, i) => i);
    expect(fast).toEqual(want);
    expect(slow).toEqual(want);
    expect(maxInFlight).toBe(1);
  });

  it("a closed subscription gets nothing more, and a closed transport refuses to send", async () => {
    setup();
    const got: string[] = [];
    const sub = await bus.subscribe({ kind: "broadcast", id: "x" }, { heartbeat: (m) => void got.push(m.driverId) });
    await bus.publish("heartbeat", "d0", heartbeat(0));
    await sub.close();
    expect(got).toEqual(["d0"]);
    await bus.publish("heartbeat", "d1", heartbeat(1));
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(["d0"]);
    await bus.close();
    await expect(bus.publish("heartbeat", "d2", heartbeat(2))).rejects.toThrow(/closed/);
  });
});
