import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { TestSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { Orchestrator } from "./orchestrator.js";
import { Store } from "./store.js";

describe("tests by state (every Prometheus scrape)", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("an ended test is decoded once, not at every scrape; deleted and new tests are counted right", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-states-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const seed = new Store(dir);
    for (let i = 0; i < 300; i++) seed.putTest(create(TestSchema, { id: `done-${i}`, state: i % 3 === 0 ? TestState.FAILED : TestState.COMPLETED }));
    await seed.close();
    const bus = createBus(createMemoryTransport());
    const o = await Orchestrator.open({ bus, dataDir: dir, log: () => {} });
    cleanups.push(() => bus.close(), () => o.close());
    const getTest = vi.spyOn(Store.prototype, "getTest");
    expect(o.testsByState()).toEqual(new Map([[TestState.FAILED, 100], [TestState.COMPLETED, 200]]));
    const firstScrape = getTest.mock.calls.length;
    expect(o.testsByState()).toEqual(new Map([[TestState.FAILED, 100], [TestState.COMPLETED, 200]]));
    // The second scrape decodes none of the 300 ended tests.
    expect(getTest.mock.calls.length - firstScrape).toBe(0);
    const created = o.createTest(create(TestSchema, { spec: { targetUrl: "http://127.0.0.1:1/", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 100 } } } } }).spec);
    await o.deleteTest("done-0");
    expect(o.testsByState()).toEqual(new Map([[TestState.CREATED, 1], [TestState.FAILED, 99], [TestState.COMPLETED, 200]]));
    await o.cancelTest(created.id);
    expect(o.testsByState().get(TestState.CANCELLED)).toBe(1);
    expect(o.testsByState().get(TestState.CREATED)).toBeUndefined();
    getTest.mockRestore();
  });
});
