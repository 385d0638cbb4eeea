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
  it("a scenario test's messages carry its steps and scenarios: ascending, only those that counted something, adding up to the totals", async () => {
    const delivered: MetricsMessage[] = [];
    target.reset();
    const run = new TestRun({
      testId: "t",
      driverId: "d7",
      driverIndex: 0,
      driverCount: 1,
      spec: create(TestSpecSchema, {
        targetUrl: `${target.url}/`,
        reportIntervalMs: 100,
        scenarios: [
          { name: "never", weight: 0, steps: [{ name: "n", url: "/search?q=never" }] },
          {
            name: "two",
            weight: 1,
            steps: [
              { name: "a", url: "/search?q={{driverId}}", checks: [{ name: "ok", kind: { case: "status", value: { codes: [200] } } }] },
              { name: "b", url: "/items/1" },
            ],
          },
        ],
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 350 } } },
      }),
      publish: async (m) => void delivered.push(m),
      log: () => undefined,
    });
    await run.run(nowMs() + 20);
    const counts = target.counts();
    for (const m of delivered) {
      const indexes = m.steps.map((s) => s.stepIndex);
      expect(indexes).toEqual([1, 2].filter((i) => indexes.includes(i)));
      expect(indexes.length > 0).toBe(m.requests > 0n);
      expect(m.steps.every((s) => s.requests > 0n)).toBe(true);
      expect(m.steps.reduce((n, s) => n + s.requests, 0n)).toBe(m.requests);
      expect(m.scenarios.every((s) => s.scenarioIndex === 1 && s.iterations > 0n)).toBe(true);
    }
    const sum = (step: number) => delivered.reduce((n, m) => n + Number(m.steps.find((s) => s.stepIndex === step)?.requests ?? 0n), 0);
    expect(sum(1)).toBe(counts.byPath["/search"]);
    expect(sum(2)).toBe(counts.byPath["/items/{id}"]);
    expect(counts.byStatus["401"]).toBe(sum(2));
    const passed = delivered.reduce((n, m) => n + Number(m.steps.find((s) => s.stepIndex === 1)?.checks[0]?.passed ?? 0n), 0);
    expect(passed).toBe(sum(1));
    expect(delivered.find((m) => m.steps.length > 0)!.steps[0]!.checks[0]!.name).toBe("ok");
    expect(delivered.reduce((n, m) => n + Number(m.scenarios[0]?.iterations ?? 0n), 0)).toBe(sum(1));
  });
});
