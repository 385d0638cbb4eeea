/**
 * A simulated fleet: many drivers in ONE process over ONE Kafka transport, speaking the real
 * data-plane contracts (register, heartbeat, test_config, trigger, metrics) without sending HTTP.
 *
 * - One broadcast subscription to `test_config` and `trigger` serves the whole fleet; a config is
 *   dispatched to the simulated drivers it names.
 * - Every publish goes through `transport.send(records[])` in batches of at most `batchSize`.
 * - Heartbeats every 1000 ms per driver, spread over the second in 10 ticks (a tenth of the fleet
 *   each); READY, or BUSY with the test id from the config's arrival to the final message.
 * - A test runs from the trigger's `start_at` for the spec's duration: at each interval end
 *   `start_at + (k+1) * report_interval_ms` every driver publishes seq k with a precomputed real
 *   HdrHistogram (see fleet-sim-payload.ts), and for a scenario test one block per step and one
 *   for its first scenario; then one final message (no data) with seq K.
 *
 * Each interval batch records when its `send()` was issued and when it resolved (acked by Kafka),
 * so that a bench can measure how long the orchestrator took to stream the interval.
 * Run alone as a process: see fleet-sim-main.ts.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { RawRecord, Subscription, Transport } from "../bus/bus.js";
import { createKafkaTransport } from "../bus/kafka.js";
import {
  HeartbeatMessageSchema, MetricsMessageSchema, RegisterMessageSchema, TestConfigMessageSchema,
  TriggerAction, TriggerMessageSchema, type TestConfigMessage,
} from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { scenarioLayout } from "../metrics/step-stats.js";
import { BYTES_PER_REQUEST, histogramVariants, scenarioBlocks, type SimBatch, type SimTestResult } from "./fleet-sim-payload.js";

export type { SimBatch, SimTestResult };

const HEARTBEAT_MS = 1000;
const HEARTBEAT_TICKS = 10;
const ARM_TIMEOUT_MS = 30_000;

/** Options of {@link startFleetSim}. */
export interface FleetSimOptions {
  kafka: string;
  topicPrefix: string;
  drivers: number;
  /** Ids are `${idPrefix}0001` …; default "sim-". */
  idPrefix?: string;
  /** Most records per send (default 100). */
  batchSize?: number;
  /**
   * How long a failed metrics send is tried again, with backoff, as a real driver does while the
   * data plane is down (default 0: a failed send is counted and dropped).
   */
  retryMs?: number;
  log?: (message: string) => void;
}

/** A running simulated fleet. */
export interface FleetSim {
  readonly ids: readonly string[];
  /** Everything published per test so far. */
  results(): SimTestResult[];
  /** Counters: sends, records, failures. */
  readonly stats: { sends: number; records: number; failedSends: number; heartbeats: number };
  /** Ends running tests (final messages), says `leaving` for every driver, closes the transport. */
  stop(): Promise<void>;
}

interface SimTest {
  result: SimTestResult;
  /** Checks per step of a scenario test, in step order (empty: a single-request test). */
  stepChecks: number[];
  durationMs: number;
  nextSeq: number;
  started: boolean;
  ended: boolean;
  timers: Set<NodeJS.Timeout>;
  inflight: Promise<void>[];
}

/** How long a spec's run lasts: its duration, else its max duration, else 10 s. */
export function simDurationMs(spec: TestSpec): number {
  const w = spec.workload;
  if ((w.case === "avalanche" || w.case === "tsunami") && w.value.limit.case === "durationMs") return w.value.limit.value;
  return spec.maxDurationMs || 10_000;
}

/** Starts N simulated drivers: subscribes, registers them, starts heartbeating. */
export async function startFleetSim(o: FleetSimOptions): Promise<FleetSim> {
  const log = o.log ?? ((m: string) => console.error(m));
  const batchSize = o.batchSize ?? 100;
  const ids = Array.from({ length: o.drivers }, (_, i) => `${o.idPrefix ?? "sim-"}${String(i + 1).padStart(4, "0")}`);
  const mine = new Set(ids);
  const busy = new Map<string, string>();
  const tests = new Map<string, SimTest>();
  const earlyStarts = new Map<string, number>();
  const cancelled = new Set<string>();
  const stats = { sends: 0, records: 0, failedSends: 0, heartbeats: 0 };
  const transport: Transport = await createKafkaTransport({ brokers: [o.kafka], topicPrefix: o.topicPrefix, clientId: "kannon-fleet-sim", log });

  const encode = <D extends DescMessage>(schema: D, init: MessageShape<D>) => toBinary(schema, init);
  /** One send of metrics, tried again for up to retryMs while it fails. */
  const sendMetrics = async (records: RawRecord[]): Promise<void> => {
    const giveUpAt = Date.now() + (o.retryMs ?? 0);
    for (let backoff = 500; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        return await transport.send(records);
      } catch (err) {
        if (Date.now() + backoff > giveUpAt) throw err;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  /** Sends records in chunks of batchSize (metrics with retries); resolves true when every chunk was acked. */
  const send = async (records: RawRecord[]): Promise<boolean> => {
    let ok = true;
    for (let i = 0; i < records.length; i += batchSize) {
      const chunk = records.slice(i, i + batchSize);
      stats.sends++;
      stats.records += chunk.length;
      try {
        await (chunk[0]?.topic === "metrics" ? sendMetrics(chunk) : transport.send(chunk));
      } catch (err) {
        ok = false;
        stats.failedSends++;
        log(`fleet-sim: send of ${chunk.length} ${chunk[0]?.topic ?? ""} record(s) failed: ${String(err)}`);
      }
    }
    return ok;
  };
  const heartbeat = (id: string): RawRecord => {
    const testId = busy.get(id) ?? "";
    const state = testId ? DriverState.BUSY : DriverState.READY;
    const value = encode(HeartbeatMessageSchema, create(HeartbeatMessageSchema, { driverId: id, sentAt: timestampAt(Date.now()), state, testId }));
    return { topic: "heartbeat", key: id, value };
  };
  const beat = (list: readonly string[]) => {
    stats.heartbeats += list.length;
    void send(list.map(heartbeat));
  };
  const metrics = (testId: string, driverId: string, init: MessageInitShape<typeof MetricsMessageSchema>): RawRecord => ({
    topic: "metrics",
    key: driverId,
    value: encode(MetricsMessageSchema, create(MetricsMessageSchema, { testId, driverId, ...init })),
  });

  function publishInterval(t: SimTest, seq: number): void {
    const r = t.result;
    const startAt = r.startAtMs ?? Date.now();
    const spreadStepMs = Math.min(5, r.intervalMs / 4 / Math.max(1, Math.ceil(r.driverIds.length / batchSize)));
    for (let first = 0, j = 0; first < r.driverIds.length; first += batchSize, j++) {
      const count = Math.min(batchSize, r.driverIds.length - first);
      const records: RawRecord[] = [];
      let requests = 0;
      for (let i = first; i < first + count; i++) {
        const variants = histogramVariants(t.stepChecks.length);
        const v = variants[(i + seq) % variants.length]!;
        requests += v.requests;
        records.push(metrics(r.testId, r.driverIds[i]!, {
          seq: BigInt(seq),
          intervalStart: timestampAt(startAt + seq * r.intervalMs),
          intervalEnd: timestampAt(startAt + (seq + 1) * r.intervalMs),
          requests: BigInt(v.requests),
          statusCounts: { 200: BigInt(v.requests) },
          bytesReceived: BigInt(v.requests * BYTES_PER_REQUEST),
          latencyHistogram: v.bytes,
          startSkewUs: BigInt(100 + (i % 50) * 20),
          ...scenarioBlocks(v, t.stepChecks),
        }));
      }
      const issue = () => {
        const batch: SimBatch = { seq, first, count, issuedMs: Date.now(), ackedMs: null };
        r.batches.push(batch);
        stats.sends++;
        stats.records += count;
        return sendMetrics(records).then(
          () => {
            batch.ackedMs = Date.now();
            r.expectedRequests += requests;
            r.expectedBytes += requests * BYTES_PER_REQUEST;
          },
          (err: unknown) => {
            r.failedSends++;
            stats.failedSends++;
            log(`fleet-sim: interval ${seq} of test ${r.testId} (${count} drivers) not sent: ${String(err)}`);
          },
        );
      };
      // Later chunks follow a few ms apart (not cancellable: a final always waits for them).
      const delayMs = j * spreadStepMs;
      t.inflight.push(delayMs === 0 ? issue() : new Promise<void>((done) => setTimeout(() => void issue().then(done), delayMs)));
    }
  }

  function schedule(t: SimTest): void {
    const r = t.result;
    const total = Math.max(1, Math.ceil(t.durationMs / r.intervalMs));
    r.intervals = total;
    const at = (r.startAtMs ?? Date.now()) + (t.nextSeq + 1) * r.intervalMs;
    const tm = setTimeout(() => {
      t.timers.delete(tm);
      if (t.ended) return;
      publishInterval(t, t.nextSeq++);
      if (t.nextSeq >= total) void finish(t, "");
      else schedule(t);
    }, Math.max(0, at - Date.now()));
    t.timers.add(tm);
  }

  /** Ends a test: waits for its interval sends, then every driver's final message, then READY. */
  async function finish(t: SimTest, error: string): Promise<void> {
    if (t.ended) return;
    t.ended = true;
    for (const tm of t.timers) clearTimeout(tm);
    t.timers.clear();
    await Promise.allSettled(t.inflight);
    const r = t.result;
    const endMs = Date.now();
    const startAt = r.startAtMs ?? endMs;
    const finals = r.driverIds.map((id, i) =>
      metrics(r.testId, id, {
        seq: BigInt(t.nextSeq),
        intervalStart: timestampAt(Math.min(endMs, startAt + t.nextSeq * r.intervalMs)),
        intervalEnd: timestampAt(endMs),
        final: true,
        startSkewUs: t.started ? BigInt(100 + (i % 50) * 20) : 0n,
        error,
      }),
    );
    if (await send(finals)) r.finalsSent += finals.length;
    for (const id of r.driverIds) if (busy.get(id) === r.testId) busy.delete(id);
    beat(r.driverIds);
  }

  function onConfig(config: TestConfigMessage): void {
    if (tests.has(config.testId) || cancelled.has(config.testId) || !config.spec) return;
    const named = config.driverIds.filter((id) => mine.has(id));
    if (named.length === 0) return;
    const refused = named.filter((id) => busy.has(id));
    const driverIds = named.filter((id) => !busy.has(id));
    if (refused.length > 0)
      void send(refused.map((id) => metrics(config.testId, id, { final: true, error: `driver ${id} is busy with test ${busy.get(id)}` })));
    const spec = config.spec;
    const result: SimTestResult = {
      testId: config.testId, driverIds, intervalMs: spec.reportIntervalMs || 1000, startAtMs: null, intervals: 0,
      expectedRequests: 0, expectedBytes: 0, batches: [], failedSends: 0, finalsSent: 0, cancelled: false, refused,
    };
    const t: SimTest = { result, stepChecks: scenarioLayout(spec).steps.map((st) => st.checks.length), durationMs: simDurationMs(spec), nextSeq: 0, started: false, ended: false, timers: new Set(), inflight: [] };
    tests.set(config.testId, t);
    for (const id of driverIds) busy.set(id, config.testId);
    beat(driverIds);
    const arm = setTimeout(() => {
      t.timers.delete(arm);
      if (!t.started) void finish(t, `no trigger within ${ARM_TIMEOUT_MS} ms`);
    }, ARM_TIMEOUT_MS);
    t.timers.add(arm);
    const early = earlyStarts.get(config.testId);
    if (early !== undefined) start(t, early);
  }

  function start(t: SimTest, startAtMs: number): void {
    if (t.started || t.ended) return;
    t.started = true;
    for (const tm of t.timers) clearTimeout(tm);
    t.timers.clear();
    t.result.startAtMs = startAtMs;
    schedule(t);
  }

  function onTrigger(testId: string, action: TriggerAction, startAtMs: number): void {
    const t = tests.get(testId);
    if (action === TriggerAction.START) {
      if (t) start(t, startAtMs);
      else earlyStarts.set(testId, startAtMs);
    } else if (action === TriggerAction.CANCEL) {
      if (!t) cancelled.add(testId);
      else if (!t.ended) {
        t.result.cancelled = true;
        void finish(t, "");
      }
    }
  }

  const subscription: Subscription = await transport.subscribe(["test_config", "trigger"], { kind: "broadcast", id: "fleet-sim" }, (rec) => {
    if (rec.topic === "test_config") onConfig(fromBinary(TestConfigMessageSchema, rec.value));
    else if (rec.topic === "trigger") {
      const m = fromBinary(TriggerMessageSchema, rec.value);
      onTrigger(m.testId, m.action, m.startAt ? msOf(m.startAt) : Date.now());
    }
  });
  const register = (id: string, leaving: boolean): RawRecord => ({
    topic: "register",
    key: id,
    value: encode(RegisterMessageSchema, create(RegisterMessageSchema, {
      driverId: id, host: "fleet-sim", address: "127.0.0.1", version: "kannon-fleet-sim/0.1.0", sentAt: timestampAt(Date.now()), leaving,
    })),
  });
  await send(ids.map((id) => register(id, false)));
  let tick = 0;
  const ticker = setInterval(() => {
    const slot = tick++ % HEARTBEAT_TICKS;
    beat(ids.filter((_, i) => i % HEARTBEAT_TICKS === slot));
  }, HEARTBEAT_MS / HEARTBEAT_TICKS);
  beat(ids);

  let stopping: Promise<void> | undefined;
  return {
    ids,
    stats,
    results: () => [...tests.values()].map((t) => t.result),
    stop() {
      stopping ??= (async () => {
        clearInterval(ticker);
        await Promise.allSettled([...tests.values()].map((t) => finish(t, "fleet-sim shut down during the run")));
        await subscription.close().catch(() => undefined);
        await send(ids.map((id) => register(id, true)));
        await transport.close();
      })();
      return stopping;
    },
  };
}
