/**
 * Hostile input: thousands of random and truncated byte strings on every topic of a real broker,
 * with an orchestrator and two drivers consuming them, and random JSON and binary bodies on every
 * RPC. Nothing crashes, every bad RPC gets a Connect error, and a real test afterwards is exact.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createBus, type Bus, type RawRecord, type Transport } from "../bus/bus.js";
import { createKafkaTransport } from "../bus/kafka.js";
import { allTopics, topics } from "../bus/topics.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { createTarget, type Target } from "../target/target.js";
import { metrics as fakeMetrics, heartbeat, register } from "./fake-fleet.js";
import { grpcClient, runToEnd, spec, targetCounts, until } from "./helpers.js";

const bootstrap = inject("kafkaBootstrap");
const PER_TOPIC = 1000;

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("fuzz: hostile bytes on every topic and every RPC", () => {
  const rand = prng(20261202);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  let dir: string;
  let raw: Transport;
  const buses: Bus[] = [];
  let orchestrator: Orchestrator;
  let server: RunningServer;
  let target: Target;
  const drivers: DriverAgent[] = [];
  const logs: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => unhandled.push(r);

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    dir = await mkdtemp(join(tmpdir(), "kannon-fuzz-"));
    const prefix = `fuzz-${process.pid}-${Date.now().toString(36)}-`;
    const open = async (clientId: string) => {
      const bus = createBus(await createKafkaTransport({ brokers: [bootstrap], topicPrefix: prefix, clientId, log: (m) => logs.push(m) }), { log: (m) => logs.push(m) });
      buses.push(bus);
      return bus;
    };
    orchestrator = await Orchestrator.open({ bus: await open("orchestrator"), dataDir: dir, log: (m) => logs.push(m) });
    for (const id of ["fz1", "fz2"]) {
      const d = createDriver({ bus: await open(id), id, log: (m) => logs.push(m) });
      await d.start();
      drivers.push(d);
    }
    raw = await createKafkaTransport({ brokers: [bootstrap], topicPrefix: prefix, clientId: "fuzzer", log: () => {} });
    server = await startServer({ orchestrator });
    target = await createTarget();
    await until(() => orchestrator.fleet.ready().length === 2, 20_000, "2 drivers READY");
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(drivers.map((d) => d.stop({ deadlineMs: 3000 })));
    await server?.close();
    await orchestrator?.close();
    await Promise.allSettled([...buses.map((b) => b.close()), raw?.close()]);
    await target?.close();
    await rm(dir, { recursive: true, force: true });
    process.off("unhandledRejection", onUnhandled);
  }, 60_000);

  it(`${PER_TOPIC} random and truncated records on each topic: nothing crashes, junk is counted, a real test afterwards is exact`, async () => {
    // Valid messages to truncate: one per topic, with every field set that matters.
    const valid: Record<string, Uint8Array> = {
      register: register("fz-junk").value,
      heartbeat: heartbeat("fz-junk", "some-test").value,
      metrics: fakeMetrics("t", "fz-junk", 3, Date.now(), 1000).value,
      test_config: toBinary(topics.test_config, create(topics.test_config, { testId: "junk", driverIds: ["fz1", "fz2"], spec: spec({ targetUrl: "http://127.0.0.1:9/" }) })),
      trigger: toBinary(topics.trigger, create(topics.trigger, { testId: "junk", action: 1, driverIds: ["fz1"] })),
      data: toBinary(topics.data, create(topics.data, { testId: "junk", driverId: "fz1", file: "a.csv", columns: ["id"], values: ["1", "2"], rows: 2, seq: 0, total: 1, partRows: 2n })),
      data_ready: toBinary(topics.data_ready, create(topics.data_ready, { testId: "junk", driverId: "fz1", attempt: 1, rows: { "a.csv": 2n } })),
    };
    let sent = 0;
    for (const topic of allTopics) {
      const records: RawRecord[] = [];
      for (let i = 0; i < PER_TOPIC; i++) {
        const v = valid[topic]!;
        const value = i % 2 === 0 ? bytes(Math.floor(rand() * 300)) : v.subarray(0, Math.floor(rand() * v.length));
        records.push({ topic, key: i % 3 === 0 ? "" : `k${Math.floor(rand() * 1e6)}`, value });
      }
      await raw.send(records);
      sent += records.length;
    }
    expect(sent).toBe(PER_TOPIC * allTopics.length);
    // Every bus has taken everything in (decoded or counted undecodable).
    await until(() => buses.every((b) => b.stats.delivered + b.stats.undecodable > 0) && buses[0]!.stats.delivered + buses[0]!.stats.undecodable >= PER_TOPIC * 3 * 0.99, 30_000, "the orchestrator consumed the junk");
    const o = buses[0]!.stats;
    expect(o.undecodable).toBeGreaterThan(0);
    expect(o.handlerErrors).toBe(0);
    // Junk that decodes (a truncated register or heartbeat) but names no usable driver is counted and skipped.
    expect(orchestrator.fleet.invalid).toBeGreaterThan(0);
    // Junk "drivers" (random ids) go MISSING; the real ones stay READY.
    await new Promise((r) => setTimeout(r, 4000));
    expect(orchestrator.fleet.ready().map((d) => d.id)).toEqual(["fz1", "fz2"]);
    expect(drivers.every((d) => d.state === DriverState.READY)).toBe(true);

    const client = grpcClient(server.url);
    const before = await targetCounts(target.url);
    const { id } = await runToEnd(
      client,
      spec({ targetUrl: `${target.url}/ping`, driverCount: 2, workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 1000n } } } }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.partial).toBe(false);
    expect(report!.total!.requests).toBe(2000n);
    expect((await targetCounts(target.url)).requests - before.requests).toBe(2000);
    expect(unhandled).toEqual([]);
  }, 120_000);

  it("random JSON and binary bodies on every RPC: every bad call gets a Connect error, the server stays up", async () => {
    const methods = OrchestratorService.methods.map((m) => ({ name: m.name, streaming: m.methodKind === "server_streaming" }));
    const jsonBodies = () => {
      const pick = Math.floor(rand() * 6);
      if (pick === 0) return JSON.stringify({ testId: Math.floor(rand() * 1e9).toString(36), pageToken: String(rand()) });
      if (pick === 1) return JSON.stringify({ spec: { targetUrl: rand() < 0.5 ? "ftp://x" : 42, avalanche: { concurrency: -1 } } });
      if (pick === 2) return "{".repeat(Math.floor(rand() * 50));
      if (pick === 3) return JSON.stringify([rand(), null, "x"]);
      if (pick === 4) return JSON.stringify({ pageSize: -5, state: 99, [String(rand())]: {} });
      return Buffer.from(bytes(Math.floor(rand() * 200))).toString("latin1");
    };
    let calls = 0;
    let errors = 0;
    for (let round = 0; round < 120; round++) {
      for (const m of methods) {
        const binary = round % 2 === 1;
        const body = binary ? bytes(Math.floor(rand() * 200)) : jsonBodies();
        const contentType = m.streaming ? (binary ? "application/connect+proto" : "application/connect+json") : binary ? "application/proto" : "application/json";
        const res = await fetch(`${server.url}/kannon.v1.OrchestratorService/${m.name}`, {
          method: "POST",
          headers: { "content-type": contentType, ...(m.streaming ? { "connect-protocol-version": "1" } : {}) },
          body,
          signal: AbortSignal.timeout(5000),
        });
        calls++;
        if (res.status === 200) {
          // A body that happened to be valid: a real answer (streams are cut short here).
          if (!m.streaming) expect(res.headers.get("content-type") ?? "").toMatch(/json|proto/);
          await res.body?.cancel();
          continue;
        }
        errors++;
        const text = await res.text();
        const err = JSON.parse(text) as { code?: string };
        expect(err.code, `${m.name} ${res.status}: ${text}`).toMatch(/^(invalid_argument|not_found|failed_precondition|resource_exhausted|unimplemented|internal|permission_denied|unavailable)$/);
        // connect-es answers a body that is not protobuf at all with `internal` ("parse binary: …"),
        // which still names the problem; anything else internal would be a bug of ours.
        if (err.code === "internal") expect(text, m.name).toMatch(/parse binary/);
      }
    }
    expect(calls).toBe(120 * methods.length);
    expect(errors).toBeGreaterThan(calls / 2);
    // Still serving.
    expect((await grpcClient(server.url).listDrivers({})).drivers.length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
