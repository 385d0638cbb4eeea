import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, spec, until, type OrchestratorClient } from "./helpers.js";
import { createTarget, type Target } from "../target/target.js";

describe("arrival rate holds when a driver drops out", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let target: Target;

  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 3, target: false });
    client = grpcClient(fleet.server.url);
    target = await createTarget();
  });
  afterAll(async () => {
    await fleet?.close();
    await target?.close();
  });

  it("the remaining drivers take over a stopped driver's share: the fleet still sends ~rate × duration", async () => {
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: `${target.url}/ping`,
        reportIntervalMs: 500,
        workload: { case: "arrivalRate", value: { ratePerS: 300, durationMs: 4000 } },
      }),
    });
    const id = test!.id;
    await client.startTest({ testId: id });
    await until(async () => (await client.getTest({ testId: id })).test!.state === TestState.RUNNING, 5000, "RUNNING");
    await new Promise((r) => setTimeout(r, 1000));
    // driver-3 leaves mid-run (as on SIGTERM): its final metrics go first, then it is gone.
    await fleet.drivers[2]!.stop();
    let report;
    for await (const m of client.watchTest({ testId: id })) if (m.report) report = m.report;
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.partial).toBe(true);
    const total = Number(report!.total!.requests);
    console.log(`re-split: total ${total}, by driver ${report!.drivers.map((d) => `${d.driverId}=${d.stats!.requests}`).join(" ")}, intervals ${report!.intervals.map((i) => i.requests).join(" ")}`);
    // Without a re-split the fleet would lose the stopped driver's remaining ~2/3 of 400 requests
    // (≈ 930 in all); with it only the requests due in the ~250 ms before the new split applies.
    expect(total).toBeGreaterThanOrEqual(1140);
    expect(total).toBeLessThanOrEqual(1212);
    expect(target.counts().requests).toBe(total);
    const byDriver = Object.fromEntries(report!.drivers.map((d) => [d.driverId, Number(d.stats!.requests)]));
    expect(byDriver["driver-3"]).toBeLessThan(250);
    expect(byDriver["driver-1"]).toBeGreaterThan(450);
    expect(byDriver["driver-2"]).toBeGreaterThan(450);
    // The last full intervals run at the fleet's rate again: ~150 per 500 ms.
    const late = report!.intervals.slice(-3, -1).map((i) => Number(i.requests));
    for (const n of late) expect(Math.abs(n - 150)).toBeLessThanOrEqual(10);
  });
});
