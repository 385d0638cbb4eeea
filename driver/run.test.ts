import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { createTarget, type Target } from "../target/target.js";
import { nowMs } from "./clock.js";
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
});
