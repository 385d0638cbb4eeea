import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetricsMessage } from "../../gen/kannon/v1/bus_pb.js";
import { TestSpecSchema } from "../../gen/kannon/v1/test_pb.js";
import { createTarget, type Target } from "../../target/target.js";
import { nowMs } from "../clock.js";
import { TestRun } from "./run.js";

describe("TestRun metrics delivery", () => {
  let target: Target;
  beforeAll(async () => {
    target = await createTarget();
  });
  afterAll(() => target.close());

  it("keeps trying a metrics message the data plane refuses, in order, until it is delivered", async () => {
    const delivered: MetricsMessage[] = [];
    const logs: string[] = [];
    let refusals = 2;
    const run = new TestRun({
      testId: "t",
      driverId: "d",
      driverIndex: 0,
      driverCount: 1,
      spec: create(TestSpecSchema, {
        targetUrl: `${target.url}/ping`,
        reportIntervalMs: 100,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 350 } } },
      }),
      publish: async (m) => {
        if (refusals > 0) {
          refusals--;
          throw new Error("broker unreachable");
        }
        delivered.push(m);
      },
      log: (m) => logs.push(m),
    });
    await run.run(nowMs() + 20);
    expect(logs.filter((l) => l.includes("trying again"))).toHaveLength(2);
    expect(delivered.map((m) => Number(m.seq))).toEqual(delivered.map((_, i) => i));
    expect(delivered.at(-1)!.final).toBe(true);
    expect(delivered.reduce((n, m) => n + Number(m.requests), 0)).toBe(target.counts().requests);
  });

  it("holds at most maxBuffered messages while the data plane is stuck, drops the rest and says how many in the final message", async () => {
    const delivered: MetricsMessage[] = [];
    const logs: string[] = [];
    let release: () => void = () => {};
    const stuck = new Promise<void>((r) => (release = r));
    const run = new TestRun({
      testId: "t",
      driverId: "d",
      driverIndex: 0,
      driverCount: 1,
      maxBuffered: 2,
      spec: create(TestSpecSchema, {
        targetUrl: `${target.url}/ping`,
        reportIntervalMs: 100,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 650 } } },
      }),
      publish: async (m) => {
        await stuck;
        delivered.push(m);
      },
      log: (m) => logs.push(m),
    });
    const done = run.run(nowMs() + 20);
    setTimeout(() => release(), 900);
    await done;
    const dropped = logs.filter((l) => /is dropped/.test(l)).length;
    expect(dropped).toBeGreaterThanOrEqual(3);
    const final = delivered.at(-1)!;
    expect(final.final).toBe(true);
    expect(final.error).toMatch(new RegExp(`could not deliver ${dropped} interval\\(s\\)`));
    expect(delivered.filter((m) => !m.final)).toHaveLength(2);
  });
  it("counts in the final message an interval given up while the final waited behind it (the data plane dropped out mid-run)", async () => {
    const delivered: MetricsMessage[] = [];
    const attempted = new Set<number>();
    const logs: string[] = [];
    const startAtMs = nowMs() + 20;
    // The data plane is down from the start until 1 s in: seq 0 is retried until its 600 ms window
    // runs out (about 0.6 s in), long after the run ended (0.25 s) and its final was queued.
    const upAgainMs = startAtMs + 1000;
    const run = new TestRun({
      testId: "t",
      driverId: "d",
      driverIndex: 0,
      driverCount: 1,
      retryMs: 600,
      spec: create(TestSpecSchema, {
        targetUrl: `${target.url}/ping`,
        reportIntervalMs: 100,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 250 } } },
      }),
      publish: async (m) => {
        attempted.add(Number(m.seq));
        if (nowMs() < upAgainMs) throw new Error("broker unreachable");
        delivered.push(m);
      },
      log: (m) => logs.push(m),
    });
    await run.run(startAtMs);
    const lost = [...attempted].filter((seq) => !delivered.some((m) => Number(m.seq) === seq));
    expect(logs.some((l) => l.includes("giving up: this interval is lost"))).toBe(true);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    const final = delivered.at(-1)!;
    expect(final.final).toBe(true);
    expect(final.error).toMatch(new RegExp(`could not deliver ${lost.length} interval\\(s\\)`));
  });
});
