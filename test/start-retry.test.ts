/**
 * A StartTest that could not reach the drivers is retried: an orchestrator on the in-process bus
 * whose transport fails the START trigger once, with real drivers and a real target on 127.0.0.1.
 * The failed start's CANCEL must not poison the retry, and a late (redelivered) CANCEL of the
 * failed attempt must not stop the retried run.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createBus, type RawRecord, type Transport } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import { TriggerAction, TriggerMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { createTarget, type Target } from "../target/target.js";
import { spec, until } from "./helpers.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const actionOf = (r: RawRecord) => (r.topic === "trigger" ? fromBinary(TriggerMessageSchema, r.value).action : undefined);

/** The in-process transport, with a switch that fails sends of START triggers. */
function flakyTransport(): { transport: Transport; failStarts: { on: boolean }; sent: RawRecord[] } {
  const inner = createMemoryTransport();
  const failStarts = { on: false };
  const sent: RawRecord[] = [];
  const transport: Transport = {
    ...inner,
    async send(records) {
      if (failStarts.on && records.some((r) => actionOf(r) === TriggerAction.START)) throw new Error("broker unreachable (injected)");
      sent.push(...records);
      return inner.send(records);
    },
  };
  return { transport, failStarts, sent };
}

async function setUp(driverCount: number): Promise<{ o: Orchestrator; target: Target; drivers: DriverAgent[]; flaky: ReturnType<typeof flakyTransport> }> {
  const flaky = flakyTransport();
  const bus = createBus(flaky.transport);
  const dir = await mkdtemp(join(tmpdir(), "kannon-retry-"));
  const target = await createTarget({ host: "127.0.0.1" });
  const o = await Orchestrator.open({ bus, dataDir: dir, heartbeatIntervalMs: 100, log: () => {} });
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => target.close(), () => bus.close(), () => o.close());
  const drivers: DriverAgent[] = [];
  for (let i = 0; i < driverCount; i++) {
    const d = createDriver({ bus, id: `retry-${i}`, heartbeatIntervalMs: 100, log: () => {} });
    cleanups.push(() => d.stop({ deadlineMs: 2000 }));
    await d.start();
    drivers.push(d);
  }
  await until(() => o.fleet.ready().length === driverCount, 5000, "the drivers READY");
  return { o, target, drivers, flaky };
}

describe("StartTest retried after a failed start", () => {
  it("the retry runs on every driver and completes exactly; a late CANCEL of the failed attempt does not stop it", async () => {
    const { o, target, flaky } = await setUp(2);
    const test = o.createTest(
      spec({ targetUrl: target.url, driverCount: 2, startDelayMs: 300, reportIntervalMs: 200, workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "requestsPerDriver", value: 40n } } } }),
    );
    flaky.failStarts.on = true;
    await expect(o.startTest(test.id)).rejects.toThrow(/could not reach the drivers/);
    expect(o.getTest(test.id).state).toBe(TestState.CREATED);
    flaky.failStarts.on = false;
    // The drivers saw the failed attempt's config and its CANCEL; they are READY again.
    await until(() => o.fleet.ready().length === 2, 5000, "the drivers READY after the failed start");
    const failedCancel = flaky.sent.find((r) => actionOf(r) === TriggerAction.CANCEL);
    expect(failedCancel).toBeDefined();

    const started = await o.startTest(test.id);
    expect(started.state).toBe(TestState.STARTING);
    await new Promise((r) => setTimeout(r, 400));
    // The failed attempt's CANCEL delivered again (a redelivery, or one that was slow to arrive).
    await flaky.transport.send([failedCancel!]);
    await until(() => [TestState.COMPLETED, TestState.FAILED, TestState.CANCELLED].includes(o.getTest(test.id).state), 10_000, "the end of the retried run");
    const ended = o.getTest(test.id);
    expect(ended.message).toBe("");
    expect(ended.state).toBe(TestState.COMPLETED);
    expect(ended.partial).toBe(false);
    const report = o.getReport(test.id);
    expect(report.total!.requests).toBe(80n);
    expect(target.counts().requests).toBe(80);
  });
});
