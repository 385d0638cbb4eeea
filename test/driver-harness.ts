/**
 * A stand-in orchestrator for driver tests: an in-process bus, a real target on 127.0.0.1, and one
 * shared-group subscriber that records everything drivers publish, in order. Test files call
 * installCleanup() once.
 */
import { create } from "@bufbuild/protobuf";
import { afterEach, expect } from "vitest";
import { createBus, type Bus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import {
  TestConfigMessageSchema,
  TriggerAction,
  TriggerMessageSchema,
  type HeartbeatMessage,
  type MetricsMessage,
  type RegisterMessage,
} from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { createTarget, type Target } from "../target/target.js";
import { nowMs } from "../driver/clock.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import type { SampleTap } from "../driver/load/recorder.js";


export type Event =
  | { topic: "metrics"; message: MetricsMessage; at: number }
  | { topic: "register"; message: RegisterMessage; at: number }
  | { topic: "heartbeat"; message: HeartbeatMessage; at: number };

export interface Harness {
  bus: Bus;
  target: Target;
  /** Everything drivers published, in delivery order. */
  events: Event[];
  logs: string[];
  driver(options?: { id?: string; armTimeoutMs?: number; threads?: number; workers?: boolean; onSample?: SampleTap }): Promise<DriverAgent>;
}

let cleanups: (() => Promise<void>)[] = [];

/** Registers the cleanup of every harness after each test; call once at the top of a test file. */
export function installCleanup(): void {
  afterEach(async () => {
    const list = cleanups.reverse();
    cleanups = [];
    for (const c of list) await c().catch(() => undefined);
  });
}

export async function harness(): Promise<Harness> {
  const bus = createBus(createMemoryTransport());
  const target = await createTarget({ host: "127.0.0.1" });
  cleanups.push(() => target.close());
  cleanups.push(() => bus.close());
  const events: Event[] = [];
  const logs: string[] = [];
  await bus.subscribe(
    { kind: "shared", group: "test-orchestrator" },
    {
      metrics: (message) => void events.push({ topic: "metrics", message, at: nowMs() }),
      register: (message) => void events.push({ topic: "register", message, at: nowMs() }),
      heartbeat: (message) => void events.push({ topic: "heartbeat", message, at: nowMs() }),
    },
  );
  let n = 0;
  return {
    bus,
    target,
    events,
    logs,
    async driver(options = {}) {
      const driver = createDriver({
        bus,
        id: options.id ?? `driver-${++n}`,
        host: "test",
        address: "test",
        heartbeatIntervalMs: 100,
        armTimeoutMs: options.armTimeoutMs ?? 10_000,
        log: (m) => logs.push(m),
        threads: options.threads,
        workers: options.workers,
        onSample: options.onSample,
      });
      let stopped = false;
      const stop = driver.stop.bind(driver);
      (driver as { stop: DriverAgent["stop"] }).stop = async (o) => {
        stopped = true;
        await stop(o);
      };
      cleanups.push(async () => {
        if (!stopped) await driver.stop({ deadlineMs: 2000 });
      });
      await driver.start();
      return driver;
    },
  };
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function tsunamiSpec(h: Harness, init: { delayMs: number; durationMs?: number; requests?: number; reportIntervalMs?: number }): TestSpec {
  return create(TestSpecSchema, {
    name: "driver test",
    targetUrl: `${h.target.url}/ping`,
    method: "GET",
    reportIntervalMs: init.reportIntervalMs ?? 1000,
    requestTimeoutMs: 2000,
    workload: {
      case: "tsunami",
      value: {
        delayMs: init.delayMs,
        limit:
          init.requests !== undefined
            ? { case: "requestsPerDriver", value: BigInt(init.requests) }
            : { case: "durationMs", value: init.durationMs ?? 500 },
      },
    },
  });
}

export const sendConfig = (h: Harness, testId: string, spec: TestSpec, driverIds: string[], attempt = 0) =>
  h.bus.publish("test_config", testId, create(TestConfigMessageSchema, { testId, spec, driverIds, attempt }));

export const sendStart = (h: Harness, testId: string, startAtMs: number, attempt = 0) =>
  h.bus.publish("trigger", testId, create(TriggerMessageSchema, { testId, action: TriggerAction.START, startAt: timestampAt(startAtMs), attempt }));

export const sendCancel = (h: Harness, testId: string, attempt = 0) =>
  h.bus.publish("trigger", testId, create(TriggerMessageSchema, { testId, action: TriggerAction.CANCEL, attempt }));

export function metricsOf(h: Harness, testId: string, driverId?: string): MetricsMessage[] {
  return h.events.flatMap((e) =>
    e.topic === "metrics" && e.message.testId === testId && (driverId === undefined || e.message.driverId === driverId) ? [e.message] : [],
  );
}

export const finalOf = (h: Harness, testId: string, driverId: string) => metricsOf(h, testId, driverId).find((m) => m.final);

export const heartbeatsOf = (h: Harness, driverId: string) =>
  h.events.flatMap((e) => (e.topic === "heartbeat" && e.message.driverId === driverId ? [{ ...e.message, at: e.at }] : []));

export const sumRequests = (ms: MetricsMessage[]) => ms.reduce((n, m) => n + Number(m.requests), 0);
export const sumLate = (ms: MetricsMessage[]) => ms.reduce((n, m) => n + Number(m.late), 0);

/** Waits for a READY heartbeat sent after `afterMs`. */
export async function readyAgain(h: Harness, driverId: string, afterMs: number): Promise<void> {
  await until(
    () => heartbeatsOf(h, driverId).some((b) => b.at > afterMs && b.state === DriverState.READY && b.testId === ""),
    1500,
    `a READY heartbeat from ${driverId}`,
  );
}

/**
 * Checks the metrics of one driver for one test: seq 0..N contiguous, interval_start on the grid
 * from start_at, exactly one final message and it is the last. Returns the messages.
 */
export function checkIntervals(h: Harness, testId: string, driverId: string, startAtMs: number, intervalMs: number): MetricsMessage[] {
  const ms = metricsOf(h, testId, driverId);
  expect(ms.length).toBeGreaterThan(0);
  expect(ms.map((m) => Number(m.seq))).toEqual(ms.map((_, i) => i));
  expect(ms.filter((m) => m.final)).toHaveLength(1);
  expect(ms[ms.length - 1]!.final).toBe(true);
  const startUs = Math.round(msOf(timestampAt(startAtMs)) * 1000);
  for (const m of ms) {
    const seq = Number(m.seq);
    expect(Math.round(msOf(m.intervalStart!) * 1000), `interval_start of seq ${seq}`).toBe(startUs + seq * intervalMs * 1000);
    if (!m.final) expect(Math.round(msOf(m.intervalEnd!) * 1000), `interval_end of seq ${seq}`).toBe(startUs + (seq + 1) * intervalMs * 1000);
    else expect(msOf(m.intervalEnd!)).toBeGreaterThanOrEqual(msOf(m.intervalStart!));
    expect(m.error).toBe("");
  }
  return ms;
}
