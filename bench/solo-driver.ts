/**
 * One real Kannon driver (createDriver) on an in-process bus, with a minimal stand-in for the
 * orchestrator: it sends the driver a test_config and a START trigger, exactly as
 * Orchestrator.startTest does, and hands every metrics message to a callback. Used by the
 * throughput child (which merges the metrics) and the heap child (which only counts them).
 */
import { create } from "@bufbuild/protobuf";
import { createBus, type Bus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import type { SampleTap } from "../driver/load/recorder.js";
import type { TransportKind } from "../driver/transport/transport.js";
import { TestConfigMessageSchema, TriggerAction, TriggerMessageSchema, type DataReadyMessage, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import type { DataFile, Scenario } from "../gen/kannon/v1/scenario_pb.js";
import { AvalancheSchema, TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { chunksOf, parseData, stripData } from "../orchestrator/data-parts.js";
import { describeProblems, validateSpec } from "../orchestrator/validate.js";

/** Options of {@link runSoloAvalanche}. */
export interface SoloAvalancheOptions {
  /** Full URL to load, e.g. `http://127.0.0.1:4000/ping`. Must be on 127.0.0.1. */
  url: string;
  concurrency: number;
  durationMs: number;
  reportIntervalMs: number;
  /** Delay from the trigger to the common start (the orchestrator's default is similar). */
  startDelayMs?: number;
  /** Called for every metrics message the driver publishes; must not keep it unless it means to. */
  onMetrics: (message: MetricsMessage) => void;
  /** Called once with the start instant (epoch ms), as soon as the trigger is sent. */
  onStartAt?: (startAtMs: number) => void;
  /** The driver's load threads (default 1: inline). */
  threads?: number;
  /** Avalanche: requests in flight per connection (default 1). */
  pipelining?: number;
  /** Which transport the driver sends with (default `fast`). */
  transport?: TransportKind;
  /** Another workload instead of the avalanche (its limit must end the run). */
  workload?: TestSpec["workload"];
  /** A tap on every request (bench-only: it costs a call per request). */
  onSample?: SampleTap;
  /**
   * Scenarios instead of the single request (`url` is then the base of their relative URLs), and
   * the data files they read.
   */
  scenarios?: Scenario[];
  dataFiles?: DataFile[];
  /** A single RPC instead of the GET (`url` is then its origin), and its schema (gRPC needs `http` HTTP/2). */
  rpc?: TestSpec["rpc"];
  rpcSchema?: TestSpec["rpcSchema"];
  /** Called with the driver once it has started. */
  onDriver?: (driver: DriverAgent) => void;
  /** The test's HTTP options (TLS of an https URL, HTTP/2). */
  http?: TestSpec["http"];
}

/** What the stand-in saw. */
export interface SoloAvalancheResult {
  startAtMs: number;
  metricsMessages: number;
  /** The final message's error text, if the driver reported one. */
  error: string;
}

/** Publishes the driver's part of every data file on `data` and waits for its `data_ready`. */
async function sendData(bus: Bus, testId: string, attempt: number, spec: TestSpec, driverId: string, ready: Promise<DataReadyMessage>): Promise<void> {
  for (const file of spec.dataFiles)
    for (const chunk of chunksOf(testId, attempt, file, parseData(file, file.content), [driverId])) await bus.publishEncoded("data", testId, chunk.bytes);
  let timer: NodeJS.Timeout | undefined;
  const answer = await Promise.race([
    ready,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("bench: the driver did not confirm its data within 60 s")), 60_000))),
  ]).finally(() => clearTimeout(timer));
  if (answer.error) throw new Error(`bench: the driver could not take its data: ${answer.error}`);
}

/** Runs one avalanche test on one driver to its final metrics message (bounded by a deadline). */
export async function runSoloAvalanche(o: SoloAvalancheOptions): Promise<SoloAvalancheResult> {
  const host = new URL(o.url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") throw new Error(`bench: refusing to load a non-loopback target ${o.url}`);
  const log = (m: string) => console.error(m);
  const bus = createBus(createMemoryTransport(), { log });
  const driverId = "bench-driver-1";
  const testId = `bench-${process.pid}-${Date.now()}`;
  let metricsMessages = 0;
  let resolveReady!: (m: DataReadyMessage) => void;
  const dataReady = new Promise<DataReadyMessage>((r) => (resolveReady = r));
  let resolveFinal!: (m: MetricsMessage) => void;
  const finalSeen = new Promise<MetricsMessage>((r) => (resolveFinal = r));
  // The stand-in orchestrator: consumes metrics (register and heartbeat have no other reader here).
  await bus.subscribe(
    { kind: "shared", group: "bench-orchestrator" },
    {
      metrics: (m) => {
        if (m.testId !== testId) return;
        metricsMessages++;
        o.onMetrics(m);
        if (m.final) resolveFinal(m);
      },
      register: () => undefined,
      heartbeat: () => undefined,
      data_ready: (m) => {
        if (m.testId === testId) resolveReady(m);
      },
    },
  );
  const driver = createDriver({ bus, id: driverId, log, threads: o.threads, onSample: o.onSample, transport: o.transport });
  await driver.start();
  o.onDriver?.(driver);
  try {
    const spec = create(TestSpecSchema, {
      name: "bench avalanche",
      targetUrl: o.url,
      method: o.scenarios || o.rpc ? "" : "GET",
      scenarios: o.scenarios ?? [],
      rpc: o.rpc,
      rpcSchema: o.rpcSchema,
      dataFiles: o.dataFiles ?? [],
      ...(o.http ? { http: o.http } : {}),
      driverCount: 1,
      reportIntervalMs: o.reportIntervalMs,
      workload: o.workload ?? {
        case: "avalanche",
        value: create(AvalancheSchema, { concurrency: o.concurrency, pipelining: o.pipelining ?? 0, limit: { case: "durationMs", value: o.durationMs } }),
      },
    });
    const problems = validateSpec(spec);
    if (problems.length > 0) throw new Error(`bench: invalid spec: ${describeProblems(problems)}`);
    // As the orchestrator does: the config without the data files' content, then this driver's part, then START once it holds it.
    const attempt = 1;
    await bus.publish("test_config", testId, create(TestConfigMessageSchema, { testId, spec: stripData(spec).spec, driverIds: [driverId], attempt }));
    if (spec.dataFiles.length > 0) await sendData(bus, testId, attempt, spec, driverId, dataReady);
    const startAtMs = Date.now() + (o.startDelayMs ?? 300);
    await bus.publish("trigger", testId, create(TriggerMessageSchema, { testId, action: TriggerAction.START, startAt: timestampAt(startAtMs), attempt }));
    o.onStartAt?.(startAtMs);
    // The driver drains for at most its request timeout (10 s by default) plus 1 s after the duration.
    const deadlineMs = o.durationMs + (o.startDelayMs ?? 300) + 20_000;
    let timer: NodeJS.Timeout | undefined;
    const final = await Promise.race([
      finalSeen,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`bench: no final metrics from the driver within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    return { startAtMs, metricsMessages, error: final.error };
  } finally {
    await driver.stop({ deadlineMs: 3000 });
    await bus.close();
  }
}
