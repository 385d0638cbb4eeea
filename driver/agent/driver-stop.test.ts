/**
 * Cancelling and stopping the fleet agent (createDriver) against a stand-in orchestrator on the in-process bus: the test
 * publishes test_config and trigger messages itself and collects everything the driver publishes
 * (register, heartbeat, metrics) in one shared-group subscriber, so their relative order is kept.
 * Requests go to a real target on 127.0.0.1 whose own count is compared with the driver's metrics.
 */
import { describe, expect, it } from "vitest";
import {
  checkIntervals,
  finalOf,
  harness,
  heartbeatsOf,
  installCleanup,
  metricsOf,
  readyAgain,
  sendCancel,
  sendConfig,
  sendStart,
  sleep,
  sumRequests,
  tsunamiSpec,
  until,
} from "../../test/driver-harness.js";
import type { MetricsMessage } from "../../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../../gen/kannon/v1/driver_pb.js";
import { nowMs } from "../clock.js";

installCleanup();

describe("driver cancel and stop over the in-process bus", () => {
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

  it("a CANCEL that overtakes its config (topics are not ordered) keeps the test from ever arming", async () => {
    const h = await harness();
    const d = await h.driver();
    await sendCancel(h, "overtaken");
    await sendConfig(h, "overtaken", tsunamiSpec(h, { delayMs: 10, durationMs: 300 }), [d.id]);
    await sendStart(h, "overtaken", nowMs());
    await sleep(400);
    expect(h.target.counts().requests).toBe(0);
    expect(metricsOf(h, "overtaken")).toHaveLength(0);
    expect(heartbeatsOf(h, d.id).every((b) => b.state === DriverState.READY)).toBe(true);
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

  it("a cancelled start attempt does not poison the next: attempt 2 runs, and a late CANCEL of attempt 1 does not stop it", async () => {
    const h = await harness();
    const d = await h.driver();
    const spec = tsunamiSpec(h, { delayMs: 10, requests: 30, reportIntervalMs: 200 });
    // Attempt 1 reached the driver, then the orchestrator gave it up (its START could not be sent).
    await sendConfig(h, "retried", spec, [d.id], 1);
    await sendCancel(h, "retried", 1);
    await until(() => finalOf(h, "retried", d.id) !== undefined, 1000, "the empty final of attempt 1");
    expect(finalOf(h, "retried", d.id)).toMatchObject({ attempt: 1, requests: 0n });
    const startAtMs = nowMs() + 100;
    await sendConfig(h, "retried", spec, [d.id], 2);
    await sendStart(h, "retried", startAtMs, 2);
    await sleep(200);
    await sendCancel(h, "retried", 1); // late, redelivered
    await until(() => metricsOf(h, "retried", d.id).some((m) => m.final && m.attempt === 2), 3000, "the final of attempt 2");
    const ms = metricsOf(h, "retried", d.id).filter((m) => m.attempt === 2);
    expect(ms.find((m) => m.final)!.error).toBe("");
    expect(sumRequests(ms)).toBe(30);
    expect(h.target.counts().requests).toBe(30);
  });
});
