/**
 * The fleet agent (createDriver) against a stand-in orchestrator on the in-process bus: the test
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
  sendConfig,
  sendStart,
  sleep,
  sumLate,
  sumRequests,
  tsunamiSpec,
  until,
} from "../../test/driver-harness.js";
import { DriverState } from "../../gen/kannon/v1/driver_pb.js";
import { nowMs } from "../clock.js";

installCleanup();

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
    // No burst to catch up: a schedule run from start_at would start the 30 requests due in the
    // first 300 ms late at once; from its own start, only the scheduling noise of a busy 2-core
    // machine makes any late (7 in a run at load average 14).
    expect(sumLate(ms)).toBeLessThan(15);
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

  it("a test it finished is not run again when its config and START are delivered again", async () => {
    const h = await harness();
    const d = await h.driver();
    const spec = tsunamiSpec(h, { delayMs: 10, requests: 10, reportIntervalMs: 200 });
    await sendConfig(h, "once", spec, [d.id]);
    await sendStart(h, "once", nowMs() + 50);
    await until(() => finalOf(h, "once", d.id) !== undefined, 3000, "the final metrics");
    await readyAgain(h, d.id, nowMs());
    const sent = metricsOf(h, "once", d.id).length;
    // A redelivery (a consumer that restarted before committing, a replayed topic) of both.
    await sendConfig(h, "once", spec, [d.id]);
    await sendStart(h, "once", nowMs() + 50);
    await sleep(600);
    expect(h.target.counts().requests).toBe(10);
    expect(metricsOf(h, "once", d.id)).toHaveLength(sent);
    expect(d.state).toBe(DriverState.READY);
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
});
