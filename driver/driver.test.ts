/**
 * The fleet agent (createDriver) against a stand-in orchestrator on the in-process bus: the test
 * publishes test_config and trigger messages itself and collects everything the driver publishes
 * (register, heartbeat, metrics) in one shared-group subscriber, so their relative order is kept.
 * Requests go to a real target on 127.0.0.1 whose own count is compared with the driver's metrics.
 */
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
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
import { nowMs } from "./clock.js";
import { createDriver, type DriverAgent } from "./driver.js";

type Event =
  | { topic: "metrics"; message: MetricsMessage; at: number }
  | { topic: "register"; message: RegisterMessage; at: number }
  | { topic: "heartbeat"; message: HeartbeatMessage; at: number };

interface Harness {
  bus: Bus;
  target: Target;
  /** Everything drivers published, in delivery order. */
  events: Event[];
  logs: string[];
  driver(options?: { id?: string; armTimeoutMs?: number }): Promise<DriverAgent>;
}

let cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const c of list) await c().catch(() => undefined);
});

async function harness(): Promise<Harness> {
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
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tsunamiSpec(h: Harness, init: { delayMs: number; durationMs?: number; requests?: number; reportIntervalMs?: number }): TestSpec {
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

const sendConfig = (h: Harness, testId: string, spec: TestSpec, driverIds: string[]) =>
  h.bus.publish("test_config", testId, create(TestConfigMessageSchema, { testId, spec, driverIds }));

const sendStart = (h: Harness, testId: string, startAtMs: number) =>
  h.bus.publish("trigger", testId, create(TriggerMessageSchema, { testId, action: TriggerAction.START, startAt: timestampAt(startAtMs) }));

const sendCancel = (h: Harness, testId: string) =>
  h.bus.publish("trigger", testId, create(TriggerMessageSchema, { testId, action: TriggerAction.CANCEL }));

function metricsOf(h: Harness, testId: string, driverId?: string): MetricsMessage[] {
  return h.events.flatMap((e) =>
    e.topic === "metrics" && e.message.testId === testId && (driverId === undefined || e.message.driverId === driverId) ? [e.message] : [],
  );
}

const finalOf = (h: Harness, testId: string, driverId: string) => metricsOf(h, testId, driverId).find((m) => m.final);

const heartbeatsOf = (h: Harness, driverId: string) =>
  h.events.flatMap((e) => (e.topic === "heartbeat" && e.message.driverId === driverId ? [{ ...e.message, at: e.at }] : []));

const sumRequests = (ms: MetricsMessage[]) => ms.reduce((n, m) => n + Number(m.requests), 0);
const sumLate = (ms: MetricsMessage[]) => ms.reduce((n, m) => n + Number(m.late), 0);

/** Waits for a READY heartbeat sent after `afterMs`. */
async function readyAgain(h: Harness, driverId: string, afterMs: number): Promise<void> {
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
function checkIntervals(h: Harness, testId: string, driverId: string, startAtMs: number, intervalMs: number): MetricsMessage[] {
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

describe("driver (createDriver) over the in-process bus", () => {
  it("registers and heartbeats READY", async () => {
    const h = await harness();
    const d = await h.driver({ id: "solo" });
    await until(() => heartbeatsOf(h, d.id).length >= 2, 1000, "two heartbeats");
    const reg = h.events.find((e) => e.topic === "register");
    expect(reg?.message).toMatchObject({ driverId: "solo", leaving: false });
    expect(heartbeatsOf(h, d.id).every((b) => b.state === DriverState.READY && b.testId === "")).toBe(true);
    expect(d.state).toBe(DriverState.READY);
  });

  it("a trigger received 300 ms after its start_at starts at once, reports the skew, and runs its schedule from its own start", async () => {
    const h = await harness();
    const d = await h.driver();
    await sendConfig(h, "late", tsunamiSpec(h, { delayMs: 10, durationMs: 500 }), [d.id]);
    const startAtMs = nowMs() - 300;
    const sentAt = nowMs();
    await sendStart(h, "late", startAtMs);
    await until(() => finalOf(h, "late", d.id) !== undefined, 4000, "the final metrics");
    const ms = metricsOf(h, "late", d.id);
    const final = finalOf(h, "late", d.id)!;
    expect(final.error).toBe("");
    for (const m of ms) expect(m.startSkewUs).toBeGreaterThanOrEqual(300_000n);
    // Started at once: well under a second of extra skew.
    expect(final.startSkewUs).toBeLessThan(BigInt(Math.round((sentAt - startAtMs + 200) * 1000)));
    const count = h.target.counts().requests;
    expect(count).toBeGreaterThanOrEqual(48);
    expect(count).toBeLessThanOrEqual(52);
    expect(sumRequests(ms)).toBe(count);
    // No burst to catch up: the requests were not behind their (own) schedule.
    expect(sumLate(ms)).toBeLessThanOrEqual(3);
  });

  it("a trigger that arrives before its config starts the test once the config arrives", async () => {
    const h = await harness();
    const d = await h.driver();
    const startAtMs = nowMs() + 300;
    await sendStart(h, "early", startAtMs);
    await sleep(100);
    expect(metricsOf(h, "early")).toHaveLength(0);
    await sendConfig(h, "early", tsunamiSpec(h, { delayMs: 10, requests: 20, reportIntervalMs: 200 }), [d.id]);
    await until(() => finalOf(h, "early", d.id) !== undefined, 3000, "the final metrics");
    const ms = checkIntervals(h, "early", d.id, startAtMs, 200);
    expect(sumRequests(ms)).toBe(20);
    expect(h.target.counts().requests).toBe(20);
    // It waited for the trigger's start_at, not the config's arrival.
    expect(Number(ms[0]!.startSkewUs)).toBeGreaterThanOrEqual(0);
    expect(Number(ms[0]!.startSkewUs)).toBeLessThan(50_000);
  });

  it("a config that does not list this driver is ignored", async () => {
    const h = await harness();
    const d = await h.driver({ id: "left-out" });
    const sentAt = nowMs();
    await sendConfig(h, "others", tsunamiSpec(h, { delayMs: 10, requests: 5 }), ["someone-else", "another"]);
    await sendStart(h, "others", nowMs() + 50);
    await sleep(600);
    expect(metricsOf(h, "others")).toHaveLength(0);
    expect(h.target.counts().requests).toBe(0);
    const after = heartbeatsOf(h, d.id).filter((b) => b.at > sentAt);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.every((b) => b.state === DriverState.READY && b.testId === "")).toBe(true);
    expect(d.state).toBe(DriverState.READY);
  });

  it("a config with no trigger is dropped after the arm timeout with a final error, and the driver is READY again", async () => {
    const h = await harness();
    const d = await h.driver({ armTimeoutMs: 300 });
    const sentAt = nowMs();
    await sendConfig(h, "orphan", tsunamiSpec(h, { delayMs: 10, requests: 5 }), [d.id]);
    await until(() => heartbeatsOf(h, d.id).some((b) => b.state === DriverState.BUSY && b.testId === "orphan"), 1000, "a BUSY heartbeat");
    await until(() => finalOf(h, "orphan", d.id) !== undefined, 1500, "the final metrics");
    const finalAt = h.events.find((e) => e.topic === "metrics" && e.message.final)!.at;
    expect(finalAt - sentAt).toBeGreaterThanOrEqual(290);
    const ms = metricsOf(h, "orphan", d.id);
    expect(ms).toHaveLength(1);
    expect(ms[0]!.final).toBe(true);
    expect(ms[0]!.requests).toBe(0n);
    expect(ms[0]!.error).toMatch(/no trigger/);
    await readyAgain(h, d.id, finalAt);
    expect(d.state).toBe(DriverState.READY);
    expect(h.target.counts().requests).toBe(0);
  });

  it("a busy driver refuses a second test, naming the busy one, and the first test is unaffected", async () => {
    const h = await harness();
    const d = await h.driver();
    const startAtMs = nowMs() + 100;
    await sendConfig(h, "first", tsunamiSpec(h, { delayMs: 10, durationMs: 1200, reportIntervalMs: 250 }), [d.id]);
    await sendStart(h, "first", startAtMs);
    await sleep(400);
    expect(d.state).toBe(DriverState.BUSY);
    await sendConfig(h, "second", tsunamiSpec(h, { delayMs: 5, durationMs: 500 }), [d.id]);
    await sendStart(h, "second", nowMs() + 50);
    await until(() => finalOf(h, "second", d.id) !== undefined, 1000, "the refusal of the second test");
    const refusal = metricsOf(h, "second", d.id);
    expect(refusal).toHaveLength(1);
    expect(refusal[0]!.requests).toBe(0n);
    expect(refusal[0]!.error).toMatch(/busy/);
    expect(refusal[0]!.error).toContain("first");
    expect(heartbeatsOf(h, d.id).some((b) => b.state === DriverState.BUSY && b.testId === "first")).toBe(true);

    await until(() => finalOf(h, "first", d.id) !== undefined, 3000, "the first test's final metrics");
    const ms = checkIntervals(h, "first", d.id, startAtMs, 250);
    expect(sumRequests(ms)).toBe(120);
    expect(h.target.counts().requests).toBe(120);
    expect(metricsOf(h, "second")).toHaveLength(1);
    await readyAgain(h, d.id, nowMs());
  });

  it("CANCEL before the start instant publishes an empty final message and the driver is READY again", async () => {
    const h = await harness();
    const d = await h.driver();
    await sendConfig(h, "cancel-early", tsunamiSpec(h, { delayMs: 10, durationMs: 500 }), [d.id]);
    await sendStart(h, "cancel-early", nowMs() + 1500);
    await until(() => heartbeatsOf(h, d.id).some((b) => b.state === DriverState.BUSY), 1000, "a BUSY heartbeat");
    const cancelAt = nowMs();
    await sendCancel(h, "cancel-early");
    await until(() => finalOf(h, "cancel-early", d.id) !== undefined, 500, "the final metrics");
    const ms = metricsOf(h, "cancel-early", d.id);
    expect(ms).toHaveLength(1);
    expect(ms[0]).toMatchObject({ final: true, requests: 0n });
    await readyAgain(h, d.id, cancelAt);
    // Past the original start instant: nothing was sent.
    await sleep(1500 - (nowMs() - cancelAt) + 200);
    expect(h.target.counts().requests).toBe(0);
    expect(metricsOf(h, "cancel-early")).toHaveLength(1);
  });

  it("CANCEL after the config but before any START trigger publishes an empty final message", async () => {
    const h = await harness();
    const d = await h.driver();
    await sendConfig(h, "cancel-armed", tsunamiSpec(h, { delayMs: 10, durationMs: 500 }), [d.id]);
    await until(() => heartbeatsOf(h, d.id).some((b) => b.state === DriverState.BUSY), 1000, "a BUSY heartbeat");
    const cancelAt = nowMs();
    await sendCancel(h, "cancel-armed");
    await until(() => finalOf(h, "cancel-armed", d.id) !== undefined, 500, "the final metrics");
    expect(metricsOf(h, "cancel-armed", d.id)).toHaveLength(1);
    expect(finalOf(h, "cancel-armed", d.id)).toMatchObject({ final: true, requests: 0n });
    await readyAgain(h, d.id, cancelAt);
    // A late START for the cancelled test does not resurrect it.
    await sendStart(h, "cancel-armed", nowMs());
    await sleep(300);
    expect(h.target.counts().requests).toBe(0);
    expect(metricsOf(h, "cancel-armed")).toHaveLength(1);
  });

  it("CANCEL mid-run stops at once; the final message carries the requests so far and all counts match the target", async () => {
    const h = await harness();
    const d = await h.driver();
    const startAtMs = nowMs() + 100;
    await sendConfig(h, "cancel-mid", tsunamiSpec(h, { delayMs: 10, durationMs: 3000, reportIntervalMs: 200 }), [d.id]);
    await sendStart(h, "cancel-mid", startAtMs);
    await until(() => metricsOf(h, "cancel-mid", d.id).length >= 2, 2000, "two intervals");
    const cancelAt = nowMs();
    await sendCancel(h, "cancel-mid");
    await until(() => finalOf(h, "cancel-mid", d.id) !== undefined, 1500, "the final metrics within 1.5 s of the cancel");
    const ms = checkIntervals(h, "cancel-mid", d.id, startAtMs, 200);
    const total = sumRequests(ms);
    // About (cancelAt - start) / 10 requests, far from the 300 of the full run.
    expect(total).toBeGreaterThan(30);
    expect(total).toBeLessThan(Math.ceil((nowMs() - startAtMs) / 10) + 2);
    await readyAgain(h, d.id, cancelAt);
    await sleep(200);
    expect(h.target.counts().requests).toBe(total);
    expect(sumRequests(metricsOf(h, "cancel-mid"))).toBe(total);
  });

  it("CANCEL mid-run with slow requests still in flight: they are counted (aborted) in the final message, not lost", async () => {
    const h = await harness();
    const d = await h.driver();
    const spec = tsunamiSpec(h, { delayMs: 50, durationMs: 3000, reportIntervalMs: 200 });
    spec.targetUrl = `${h.target.url}/delay?ms=3000`;
    await sendConfig(h, "cancel-slow", spec, [d.id]);
    await sendStart(h, "cancel-slow", nowMs() + 50);
    await until(() => h.target.counts().requests >= 8, 2000, "requests in flight at the target");
    const cancelAt = nowMs();
    await sendCancel(h, "cancel-slow");
    await until(() => finalOf(h, "cancel-slow", d.id) !== undefined, 1500, "the final metrics within 1.5 s of the cancel");
    const ms = metricsOf(h, "cancel-slow", d.id);
    const final = finalOf(h, "cancel-slow", d.id)!;
    expect(final.error).toBe("");
    const count = h.target.counts().requests;
    expect(sumRequests(ms)).toBe(count);
    expect(final.errorCounts["aborted"]).toBe(BigInt(count));
    await readyAgain(h, d.id, cancelAt);
  });

  it("interval metrics from two drivers: contiguous seq on the start_at grid, one final and last, sums equal the target's count", async () => {
    const h = await harness();
    const a = await h.driver({ id: "a" });
    const b = await h.driver({ id: "b" });
    const startAtMs = nowMs() + 200;
    await sendConfig(h, "intervals", tsunamiSpec(h, { delayMs: 10, durationMs: 1000, reportIntervalMs: 200 }), [a.id, b.id]);
    await sendStart(h, "intervals", startAtMs);
    await until(() => finalOf(h, "intervals", a.id) !== undefined && finalOf(h, "intervals", b.id) !== undefined, 4000, "both final messages");
    let total = 0;
    for (const d of [a, b]) {
      const ms = checkIntervals(h, "intervals", d.id, startAtMs, 200);
      // 1000 ms in intervals of 200: 0..4 and the final one (5, or 4 if the run ended before its boundary).
      expect(ms.length).toBeGreaterThanOrEqual(5);
      expect(ms.length).toBeLessThanOrEqual(6);
      expect(sumRequests(ms)).toBe(100);
      for (const m of ms) {
        expect(m.startSkewUs).toBeGreaterThanOrEqual(0n);
        expect(m.startSkewUs).toBeLessThan(50_000n);
      }
      total += sumRequests(ms);
    }
    expect(h.target.counts().requests).toBe(total);
  });

  it("stop() during a run publishes the final metrics (shut down) before the register message with leaving", async () => {
    const h = await harness();
    const d = await h.driver({ id: "leaver" });
    const startAtMs = nowMs() + 100;
    await sendConfig(h, "stopped", tsunamiSpec(h, { delayMs: 10, durationMs: 3000, reportIntervalMs: 200 }), [d.id]);
    await sendStart(h, "stopped", startAtMs);
    await until(() => metricsOf(h, "stopped", d.id).length >= 1, 2000, "a first interval");
    const stopAt = nowMs();
    await d.stop({ deadlineMs: 2000 });
    expect(nowMs() - stopAt).toBeLessThan(1500);
    await until(() => h.events.some((e) => e.topic === "register" && e.message.leaving), 500, "the leaving register message");
    const finalIndex = h.events.findIndex((e) => e.topic === "metrics" && e.message.testId === "stopped" && e.message.final);
    const leavingIndex = h.events.findIndex((e) => e.topic === "register" && e.message.leaving);
    expect(finalIndex).toBeGreaterThanOrEqual(0);
    expect(finalIndex).toBeLessThan(leavingIndex);
    const final = (h.events[finalIndex]!.message as MetricsMessage);
    expect(final.error).toMatch(/shut down/);
    const ms = metricsOf(h, "stopped", d.id);
    expect(ms.filter((m) => m.final)).toHaveLength(1);
    expect(ms[ms.length - 1]!.final).toBe(true);
    expect(ms.map((m) => Number(m.seq))).toEqual(ms.map((_, i) => i));
    // Nothing from the driver after it said it was leaving.
    expect(h.events.slice(leavingIndex + 1).filter((e) => e.message.driverId === d.id)).toHaveLength(0);
    await sleep(200);
    expect(h.target.counts().requests).toBe(sumRequests(ms));
  });

  it("stop() before the start instant publishes an empty final message (shut down) before leaving, and sends nothing", async () => {
    const h = await harness();
    const d = await h.driver({ id: "early-leaver" });
    const startAtMs = nowMs() + 800;
    await sendConfig(h, "never", tsunamiSpec(h, { delayMs: 10, durationMs: 500 }), [d.id]);
    await sendStart(h, "never", startAtMs);
    await until(() => heartbeatsOf(h, d.id).some((b) => b.state === DriverState.BUSY), 1000, "a BUSY heartbeat");
    await d.stop({ deadlineMs: 2000 });
    expect(nowMs()).toBeLessThan(startAtMs);
    await until(() => h.events.some((e) => e.topic === "register" && e.message.leaving), 500, "the leaving register message");
    const finalIndex = h.events.findIndex((e) => e.topic === "metrics" && e.message.testId === "never" && e.message.final);
    const leavingIndex = h.events.findIndex((e) => e.topic === "register" && e.message.leaving);
    expect(finalIndex).toBeGreaterThanOrEqual(0);
    expect(finalIndex).toBeLessThan(leavingIndex);
    expect(h.events[finalIndex]!.message).toMatchObject({ final: true, requests: 0n });
    expect((h.events[finalIndex]!.message as MetricsMessage).error).toMatch(/shut down/);
    await sleep(Math.max(0, startAtMs - nowMs()) + 200);
    expect(h.target.counts().requests).toBe(0);
    expect(metricsOf(h, "never")).toHaveLength(1);
  });
});
