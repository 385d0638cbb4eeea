/**
 * A run ends once. An ingest awaits its batch's write and then ends the runs it touched that are
 * done; a tick may have ended one of them meanwhile. That second end used to seal, judge and store
 * the run again: a new report and test with a later ended_at than the one WatchTest had sent (a CI
 * run saw WatchTest's last report differ from GetReport's). The race is timing-bound, so this calls
 * the end a second time directly, as the late ingest did, with the run object it held.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { heartbeat, metrics, registerAll } from "../test/fake-fleet.js";
import { spec, until } from "../test/helpers.js";
import type { LiveTest } from "./live-test.js";
import { Orchestrator } from "./orchestrator.js";

let dir = "";
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("ending a run a second time with the run object an ingest held changes nothing stored", async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-finish-once-"));
  const transport = createMemoryTransport();
  const o = await Orchestrator.open({ bus: createBus(transport, { log: () => {} }), dataDir: dir, log: () => {} });
  try {
    await registerAll(transport, ["d1"]);
    await transport.send([heartbeat("d1")]);
    await until(() => o.fleet.ready().length === 1, 5000, "d1 to be READY");
    const created = o.createTest(spec({ targetUrl: "http://127.0.0.1:9/", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }));
    const test = await o.startTest(created.id);
    const internals = o as unknown as { live: Map<string, LiveTest>; finish(live: LiveTest): Promise<void> };
    const live = internals.live.get(test.id)!;
    const startMs = msOf(test.startAt!);
    await transport.send([metrics(test.id, "d1", 0, startMs, 500, true)]);
    await until(() => o.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test to end");
    const report = o.getReportBytes(test.id)!;
    const endedAt = o.getTest(test.id).endedAt;
    await new Promise((resolve) => setTimeout(resolve, 5)); // a second end would stamp a later ended_at
    await internals.finish(live);
    expect(o.getReportBytes(test.id)).toEqual(report);
    expect(o.getTest(test.id).endedAt).toEqual(endedAt);
  } finally {
    await o.close();
    await transport.close();
  }
});
