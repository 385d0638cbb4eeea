/**
 * A scenario test through the orchestrator's API (issue 20): CreateTest stores a valid scenario
 * spec as it was sent; every problem comes back at once, as invalid_argument, or as
 * resource_exhausted when a size limit is one of them; every step URL is held to the target
 * allowlist. Run over the in-process bus with a fake driver, WatchTest, ListIntervals and
 * GetReport carry its steps and scenarios.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DataFormat } from "../gen/kannon/v1/scenario_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import type { TestUpdate } from "./live-test.js";
import { heartbeat, registerAll } from "../test/fake-fleet.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";
import { spec, until } from "../test/helpers.js";
import { TargetAllowlist } from "./allowlist.js";
import { DomainError } from "./errors.js";
import { Orchestrator } from "./orchestrator.js";

const workload = { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } as const;
const flow = (url2 = "/items/{{randInt 1 9}}", content = "user\nann\n") =>
  spec({
    targetUrl: "http://127.0.0.1:9/",
    workload,
    dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content }],
    scenarios: [{ name: "shop", weight: 1, dataFile: "users.csv", steps: [{ name: "login", method: "POST", url: "/login", body: '{"u":"{{row.user}}"}' }, { name: "item", url: url2 }] }],
  });

function refusal(f: () => unknown): DomainError {
  try {
    f();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

// Every test gets its own store directory and in-process bus, and its orchestrator is closed after it.
let dir: string;
let transport: ReturnType<typeof createMemoryTransport>;
let o: Orchestrator | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-scenario-api-"));
  transport = createMemoryTransport();
});
afterEach(async () => {
  await o?.close();
  o = undefined;
  await transport.close();
  await rm(dir, { recursive: true, force: true });
});

describe("CreateTest with scenarios", () => {

  it("stores a valid scenario spec; refuses bad ones with every problem, resource_exhausted for a size limit, nothing stored", async () => {
    o = await Orchestrator.open({ bus: createBus(transport), dataDir: dir, log: () => {} });
    const created = o.createTest(flow());
    expect(o.getTest(created.id).spec!.scenarios.map((s) => s.steps.map((st) => st.name))).toEqual([["login", "item"]]);

    const bad = refusal(() => o!.createTest(flow("/items/{{nope}}", "user\nann,extra\n")));
    expect(bad.kind).toBe("invalid_argument");
    expect(bad.message).toMatch(/spec\.data_files\[0\]\.content line 2: .*; spec\.scenarios\[0\]\.steps\[1\]\.url .*unknown name "nope"/);

    const big = refusal(() => o!.createTest(flow("/items/{{nope}}", "x".repeat(MAX_DATA_BYTES + 1))));
    expect(big.kind).toBe("resource_exhausted");
    expect(big.message).toContain(`above the limit of ${MAX_DATA_BYTES} bytes (200 MB) per test`);
    expect(o.listTests().items.map((t) => t.id)).toEqual([created.id]);
  });
});

describe("a scenario test over the in-process bus", () => {

  it("WatchTest, ListIntervals and GetReport carry the steps (with names and checks) and the scenario", async () => {
    o = await Orchestrator.open({ bus: createBus(transport, { log: () => {} }), dataDir: dir, log: () => {} });
    await registerAll(transport, ["d1"]);
    await transport.send([heartbeat("d1")]);
    await until(() => o!.fleet.ready().length === 1, 5000, "d1 to be READY");
    const s = spec({
      targetUrl: "http://127.0.0.1:9/",
      workload,
      scenarios: [{ name: "shop", weight: 1, steps: [{ name: "login", url: "/login" }, { name: "item", url: "/items/1", checks: [{ name: "ok", kind: { case: "status", value: { codes: [200] } } }] }] }],
    });
    const test = await o.startTest(o.createTest(s).id);
    const updates: TestUpdate[] = [];
    o.watchTest(test.id, { update: (u) => updates.push(u), end: () => {} });
    const startMs = msOf(test.startAt!);
    // Interval 0: login 3 (10, 20, 30 ms), item 2 (5, 7 ms; check ok 1 passed, 1 failed with a 404); then the final message.
    const hist = (us: number[]) => {
      const h = createLatencyHistogram();
      for (const v of us) recordUs(h, v);
      return encodeHistogram(h);
    };
    const m = create(MetricsMessageSchema, {
      testId: test.id, driverId: "d1", seq: 0n, attempt: test.startAttempt,
      intervalStart: timestampAt(startMs), intervalEnd: timestampAt(startMs + 1000),
      requests: 5n, statusCounts: { 200: 4n, 404: 1n }, latencyHistogram: hist([10_000, 20_000, 30_000, 5000]), failedLatencyHistogram: hist([7000]),
      steps: [
        { stepIndex: 0, requests: 3n, statusCounts: { 200: 3n }, latencyHistogram: hist([10_000, 20_000, 30_000]) },
        { stepIndex: 1, requests: 2n, statusCounts: { 200: 1n, 404: 1n }, latencyHistogram: hist([5000]), failedLatencyHistogram: hist([7000]), checks: [{ passed: 1n, failed: 1n }] },
      ],
      scenarios: [{ scenarioIndex: 0, iterations: 2n, iterationHistogram: hist([15_000, 37_000]) }],
    });
    const fin = create(MetricsMessageSchema, { testId: test.id, driverId: "d1", seq: 1n, attempt: test.startAttempt, final: true, intervalStart: timestampAt(startMs + 1000), intervalEnd: timestampAt(startMs + 1500) });
    await transport.send([m, fin].map((x) => ({ topic: "metrics", key: "d1", value: toBinary(MetricsMessageSchema, x) })));
    await until(() => o!.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test to end");

    const rows = (st: Stats) =>
      st.steps.map((x) => [`${x.scenario}/${x.step}`, x.stats!.requests, x.stats!.errors, x.stats!.latency!.p50Us, x.checks.map((c) => `${c.name} ${c.passed}/${c.failed}`)]);
    // p50 as HDR reports it: the highest value equivalent to the median's bucket, from a fresh histogram of the samples.
    const p50 = (us: number[]) => {
      const h = createLatencyHistogram(64);
      for (const v of us) recordUs(h, v);
      return BigInt(h.getValueAtPercentile(50));
    };
    const expected = [["shop/login", 3n, 0n, p50([10_000, 20_000, 30_000]), []], ["shop/item", 2n, 1n, p50([5000]), ["ok 1/1"]]];
    const report = o.getReport(test.id);
    expect(rows(report.total!)).toEqual(expected);
    expect(rows(report.drivers[0]!.stats!)).toEqual(expected);
    expect(report.total!.scenarios.map((x) => [x.scenario, x.iterations, x.iterationDuration!.p50Us])).toEqual([["shop", 2n, p50([15_000, 37_000])]]);
    const intervals = o.listIntervals(test.id, { pageSize: 10, pageToken: "" }).items;
    expect(intervals.map(rows)).toEqual([expected]);
    expect(intervals[0]!.steps[0]!.stats!.latency!.histogram.length).toBe(0);
    const streamed = updates.find((u) => u.interval)!;
    expect(rows(streamed.interval!)).toEqual(expected);
    expect(rows(updates.find((u) => u.report)!.report!.total!)).toEqual(expected);
  });
});

describe("TargetAllowlist.refusesSpec", () => {
  const allow = new TargetAllowlist(["127.0.0.1:9"]);
  it("checks target_url and every absolute step URL, and refuses a step whose host is a template", () => {
    expect(allow.refusesSpec(flow())).toBeUndefined();
    expect(allow.refusesSpec(flow("http://127.0.0.1:9/items/{{randInt 1 9}}"))).toBeUndefined();
    expect(allow.refusesSpec(flow("http://127.0.0.1:10/x"))).toBe("spec.scenarios[0].steps[1].url http://127.0.0.1:10 is not an allowed target (allowed: 127.0.0.1:9)");
    expect(allow.refusesSpec(flow("http://{{row.user}}/x"))).toMatch(/^spec\.scenarios\[0\]\.steps\[1\]\.url takes its host from a template/);
    expect(allow.refusesSpec(flow("{{row.user}}"))).toMatch(/takes its host from a template/);
    expect(new TargetAllowlist([]).refusesSpec(flow("http://{{row.user}}/x"))).toBeUndefined();
  });
});
