/**
 * The orchestrator's lifecycle over the in-process bus, with fake drivers (their messages sent
 * straight on the transport): CancelTest waits on the test's end, and an error it goes on from is
 * logged and counted, and served at `GET /metrics`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createBus, type Bus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { TriggerAction, type TriggerMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { swallowedCounts } from "../metrics/swallowed.js";
import { heartbeat, metrics, registerAll } from "../test/fake-fleet.js";
import { spec, until } from "../test/helpers.js";
import { Orchestrator } from "./orchestrator.js";
import { createPrometheusRegistry } from "./prometheus.js";

/** Lets `n` turns of the event loop pass (the in-process bus runs on promises; setImmediate is never faked here). */
async function turns(n: number, done: () => boolean = () => false): Promise<void> {
  for (let i = 0; i < n && !done(); i++) await new Promise((r) => setImmediate(r));
}

/** Lets the event loop turn until `done` holds (at most 10,000 turns). */
async function settle(done: () => boolean, what: string): Promise<void> {
  await turns(10_000, done);
  if (!done()) throw new Error(`${what} did not happen`);
}

describe("Orchestrator lifecycle", () => {
  let dir: string;
  let transport: ReturnType<typeof createMemoryTransport>;
  let orchestrator: Orchestrator | undefined;
  const logs: string[] = [];
  const quiet = { log: () => {} };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-orchestrator-"));
    transport = createMemoryTransport();
    logs.length = 0;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await orchestrator?.close();
    orchestrator = undefined;
    await transport.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** An orchestrator on `bus` with driver d1 READY, and a started test. */
  async function started(bus: Bus): Promise<{ o: Orchestrator; test: Test }> {
    const o = (orchestrator = await Orchestrator.open({ bus, dataDir: dir, log: (m) => logs.push(m) }));
    await registerAll(transport, ["d1"]);
    await transport.send([heartbeat("d1")]);
    await until(() => o.fleet.ready().length === 1, 5000, "d1 to be READY");
    const created = o.createTest(spec({ targetUrl: "http://127.0.0.1:9/", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }));
    return { o, test: await o.startTest(created.id) };
  }

  it("CancelTest returns when the drivers' final metrics end the test, with no timer firing", async () => {
    const bus = createBus(transport, quiet);
    const { o, test } = await started(bus);
    const triggers: TriggerMessage[] = [];
    await bus.subscribe({ kind: "broadcast", id: "observer" }, { trigger: (m) => void triggers.push(m) });
    // From here no timeout or interval fires: a wait that polled on a timer would never return,
    // and one that gave up at its deadline would not either.
    vi.useFakeTimers({ toFake: ["setTimeout", "setInterval"] });
    let returned: Test | undefined;
    const cancelling = o.cancelTest(test.id).then((t) => (returned = t));
    await settle(() => triggers.some((t) => t.testId === test.id && t.action === TriggerAction.CANCEL), "the CANCEL trigger");
    await turns(500); // time for anything that would end it to run
    expect(returned, "CancelTest returned before the driver flushed").toBeUndefined();
    expect(o.getTest(test.id).state).not.toBe(TestState.CANCELLED);

    await transport.send([metrics(test.id, "d1", 0, msOf(test.startAt!), test.spec!.reportIntervalMs || 1000, true)]);
    await cancelling;
    expect(returned!.state).toBe(TestState.CANCELLED);
    expect(returned!.message).toContain("cancelled by request");
    expect(o.getReport(test.id).state).toBe(TestState.CANCELLED);
  });

  it("a trigger it cannot send is logged, counted by place, and served at /metrics", async () => {
    const memory = createBus(transport, quiet);
    // The bus refuses cancels, as a broker that went away would.
    const bus: Bus = {
      ...memory,
      publish: (topic, key, message) =>
        topic === "trigger" && (message as TriggerMessage).action === TriggerAction.CANCEL
          ? Promise.reject(new Error("broker unreachable"))
          : memory.publish(topic, key, message),
    };
    const { o, test } = await started(bus);
    const before = swallowedCounts().get("orchestrator.cancel") ?? 0;
    vi.useFakeTimers({ toFake: ["setTimeout", "setInterval"] });
    const cancelling = o.cancelTest(test.id);
    await settle(() => (swallowedCounts().get("orchestrator.cancel") ?? 0) > before, "the counted failure");
    expect(swallowedCounts().get("orchestrator.cancel")).toBe(before + 1);
    expect(logs.some((l) => l.includes(`could not send cancel for test ${test.id}`) && l.includes("broker unreachable"))).toBe(true);
    vi.useRealTimers();

    const text = await createPrometheusRegistry(o).metrics();
    const family = parsePrometheusTextFormat(text).find((f) => f.name === "kannon_errors_swallowed_total");
    expect(family?.type).toBe("COUNTER");
    expect(Number(family!.metrics.find((m) => m.labels?.where === "orchestrator.cancel")?.value)).toBe(before + 1);

    // The driver still flushes (it heard of the cancel some other way): the test ends CANCELLED.
    await transport.send([metrics(test.id, "d1", 0, msOf(test.startAt!), test.spec!.reportIntervalMs || 1000, true)]);
    expect((await cancelling).state).toBe(TestState.CANCELLED);
  });
});
