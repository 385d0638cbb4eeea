import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HeartbeatMessageSchema, MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { ClockOffsetSchema, DriverSchema, DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { ClockOffsets, MAX_CLOCK_OFFSET_MS, pickDrivers } from "./clock-offset.js";
import { LiveTest } from "./live-test.js";

/** A heartbeat echoing a probe: sent by the orchestrator at t1, received by the driver at t2 (its clock), the beat sent at t3 (its clock). */
const echo = (t1: number, t2: number, t3: number, driverId = "d") =>
  create(HeartbeatMessageSchema, { driverId, state: DriverState.READY, probeSentAt: timestampAt(t1), probeReceivedAt: timestampAt(t2), sentAt: timestampAt(t3) });

describe("clock offsets", () => {
  it("NTP-style: a driver 2 s ahead with 30 ms out and 10 ms back, holding the probe 400 ms, measures +2 s within ± the half round trip", () => {
    const clocks = new ClockOffsets();
    const t1 = 1_000_000;
    // Out: 30 ms; the driver's clock reads 2000 ms more than the orchestrator's; back: 10 ms.
    const t2 = t1 + 30 + 2000;
    const t3 = t2 + 400;
    const t4 = t3 - 2000 + 10;
    const c = clocks.sample(echo(t1, t2, t3), t4)!;
    expect(c.errorUs).toBe(20_000n); // round trip 40 ms
    expect(c.offsetUs).toBe(2_010_000n); // asymmetric legs: off by (30 - 10) / 2, within the error
    // A later sample with a shorter round trip wins; one with a longer one does not replace it.
    const better = clocks.sample(echo(t1 + 1000, t1 + 1000 + 2 + 2000, t1 + 1000 + 2 + 2000 + 5), t1 + 1000 + 2 + 5 + 2)!;
    expect(better.errorUs).toBe(2_000n);
    expect(better.offsetUs).toBe(2_000_000n);
    const worse = clocks.sample(echo(t1 + 2000, t1 + 2000 + 200 + 2000, t1 + 2000 + 200 + 2000), t1 + 2000 + 400)!;
    expect(worse.offsetUs).toBe(2_000_000n);
    // A replayed echo (round trip of minutes) is no sample.
    expect(clocks.sample(echo(t1, t2, t3), t4 + 600_000)).toBeUndefined();
    expect(clocks.sample(create(HeartbeatMessageSchema, { driverId: "d" }), t4)).toBeUndefined();
  });

  it("a driver provably beyond the bound is not picked, and a test on every driver refuses to start, naming it", () => {
    const at = (id: string, offsetMs: number, errorMs = 2) =>
      create(DriverSchema, { id, state: DriverState.READY, clock: create(ClockOffsetSchema, { offsetUs: BigInt(offsetMs * 1000), errorUs: BigInt(errorMs * 1000) }) });
    const ready = [at("a", 3), at("b", 2000), create(DriverSchema, { id: "c", state: DriverState.READY }), at("d", -MAX_CLOCK_OFFSET_MS - 10, 20)];
    // d is 510 ms behind ± 20 ms: not provably beyond, so usable; c is not measured, usable.
    expect(pickDrivers(ready, 3)).toEqual({ ids: ["a", "c", "d"] });
    const all = pickDrivers(ready, 0);
    expect("problem" in all && all.problem).toMatch(
      /needs 4 ready driver\(s\); 3 ready \(a, c, d\); 1 more refused for their clocks: driver b: its clock is 2\.000 s ahead of \(± 2\.0 ms\) the orchestrator's, beyond the ±500 ms a fleet must keep: synchronise it \(NTP\) \(set driver_count to run on the others\)/,
    );
    const four = pickDrivers(ready, 4);
    expect("problem" in four && four.problem).toMatch(/driver b: its clock is 2\.000 s ahead/);
  });

  it("metrics of a driver whose clock runs ahead: within the contract they count; beyond it the driver is lost with a message naming its clock", () => {
    const startMs = 1_800_000_000_000;
    const test = create(TestSchema, {
      id: "t",
      spec: { reportIntervalMs: 100, targetUrl: "http://127.0.0.1:1/", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 5000 } } } },
      state: TestState.RUNNING,
      driverIds: ["near", "far"],
      startAt: timestampAt(startMs),
    });
    const live = new LiveTest(test);
    const m = (driverId: string, seq: number) => create(MetricsMessageSchema, { testId: "t", driverId, seq: BigInt(seq) });
    const now = startMs + 1000; // interval 10
    // 900 ms ahead at 100 ms intervals (interval 19 during 10): within bound + slack, counted.
    expect(live.rejects(m("near", 19), now)).toBeUndefined();
    expect(live.drivers.get("near")!.lost).toBe(false);
    // 2 s ahead: refused, and the driver is lost now with why (it was silently skipped, then "sent no final metrics").
    expect(live.rejects(m("far", 30), now)).toMatch(/beyond interval/);
    const far = live.drivers.get("far")!;
    expect(far.lost).toBe(true);
    expect(far.message).toMatch(/^driver far's clock runs at least 1900 ms ahead of the orchestrator's \(it sent interval 30 during interval 10\), beyond the ±500 ms a fleet must keep/);
  });
});
