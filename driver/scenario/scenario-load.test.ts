/**
 * Scenario tests run by load parts (inline and on worker threads) against the target's flow API on
 * 127.0.0.1, whose own counts (per path, token, row, status) are the reference.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CaptureMissing, DataOrder, JsonPathOp, OnExhausted } from "../../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { decodeHistogram } from "../../metrics/histogram.js";
import type { DataTable } from "../../scenario/data.js";
import { createTarget, type Target } from "../../target/target.js";
import { nowMs } from "../clock.js";
import { InlineLoadPart, type LoadPart } from "../load/load.js";
import { mergeSnapshots } from "../load/merge-snapshots.js";
import type { IntervalSnapshot, StepSnapshot } from "../load/recorder.js";
import { LoadThreads } from "../load/threads.js";
import { FastTransport } from "../transport/fast.js";
import { createScenarioTransport, recorderShape } from "./scenario-load.js";
import { ScenarioRecorder } from "./scenario-recorder.js";
import { newIterationCounter } from "./scenario-transport.js";
import { status200, tokenFlowChecks, tokenFlowSteps } from "../../test/flow-steps.js";

type SpecInit = Omit<MessageInitShape<typeof TestSpecSchema>, "$typeName">;

let target: Target;
beforeAll(async () => {
  target = await createTarget({ port: 0, host: "127.0.0.1" });
});
beforeEach(() => target.reset());
afterAll(() => target.close());

const spec = (init: SpecInit): TestSpec => create(TestSpecSchema, { targetUrl: `${target.url}/`, requestTimeoutMs: 5000, ...init });
const closed = (concurrency: number, iterations: number): NonNullable<SpecInit["workload"]> => ({
  case: "avalanche",
  value: { concurrency, limit: { case: "requestsPerDriver", value: BigInt(iterations) } },
});

/** `count` rows `id,user`: ids 1..count, users u1.. */
function users(count: number): DataTable {
  return { columns: ["id", "user"], rows: Array.from({ length: count }, (_, i) => [String(i + 1), `u${i + 1}`]) };
}

/** Runs parts to their end from a common start, taking an interval every 100 ms; returns every interval merged, and the halt reasons. */
async function runParts(parts: LoadPart[]): Promise<{ total: IntervalSnapshot; intervals: IntervalSnapshot[]; halts: string[]; ranMs: number }> {
  const halts: string[] = [];
  for (const p of parts) p.onHalt = (reason) => void halts.push(reason);
  const intervals: IntervalSnapshot[] = [];
  const taker = setInterval(() => void Promise.all(parts.map((p) => p.take())).then((s) => intervals.push(mergeSnapshots(s))), 100);
  const startAt = nowMs() + 200;
  try {
    await Promise.all(parts.map((p) => p.run(startAt)));
  } finally {
    clearInterval(taker);
  }
  const ranMs = nowMs() - startAt;
  intervals.push(mergeSnapshots(await Promise.all(parts.map((p) => p.take()))));
  for (const p of parts) p.close();
  return { total: mergeSnapshots(intervals), intervals, halts, ranMs };
}

const inline = (s: TestSpec, data?: Map<string, DataTable>) =>
  new InlineLoadPart({ spec: s, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, thread: { index: 0, count: 1 }, driverId: "d1", data });

function stepOf(s: IntervalSnapshot, index: number): StepSnapshot {
  const step = s.steps?.find((st) => st.stepIndex === index);
  expect(step, `step ${index}`).toBeDefined();
  return step!;
}

const checks = (s: StepSnapshot) => s.checks.map((c) => [c.name, c.passed, c.failed]);


/** What the token flow over `rows` rows must have counted, against the target's own counts. */
function expectTokenFlow(total: IntervalSnapshot, rows: number): void {
  const failing = Math.floor(rows / 7);
  const counts = target.counts();
  expect(counts.byStatus["500"]).toBe(failing);
  expect(Object.keys(counts.byRow)).toHaveLength(rows);
  expect(Object.values(counts.byRow).every((n) => n === 1)).toBe(true);
  const tokens = Object.values(counts.byToken);
  expect(tokens).toHaveLength(rows);
  expect(tokens.filter((n) => n === 2)).toHaveLength(rows - failing);
  expect(tokens.filter((n) => n === 1)).toHaveLength(failing);
  const [login, item, cart] = [0, 1, 2].map((i) => stepOf(total, i)) as [StepSnapshot, StepSnapshot, StepSnapshot];
  expect(login.counts.requests).toBe(counts.byPath["/login"]);
  expect(item.counts.requests).toBe(counts.byPath["/items/{id}"]);
  expect(cart.counts.requests).toBe(counts.byPath["/cart"]);
  expect(cart.counts.requests).toBe(rows - failing);
  expect(total.requests).toBe(counts.requests);
  expect(total.statusCounts.get(500)).toBe(failing);
  expect(item.counts.statusCounts.get(500)).toBe(failing);
  expect([login, item, cart].map(checks)).toEqual(tokenFlowChecks(rows, failing));
  expect(item.abortedIterations).toBe(failing);
  expect(login.captureMissing).toBe(0);
  expect(total.scenarios).toEqual([expect.objectContaining({ scenarioIndex: 0, iterations: rows, aborted: failing })]);
  // Every histogram of a step holds its requests: the successes and the failures.
  for (const s of [login, item, cart])
    expect(decodeHistogram(s.counts.latencyHistogram).totalCount + decodeHistogram(s.counts.failedLatencyHistogram).totalCount).toBe(s.counts.requests);
}

describe("scenario load parts against the flow API", () => {
  /**
   * The mix of scenarios weighted `weights` run by the parts `partsOf` makes: `iterations`
   * iterations on 3 loops, or, when `durationMs` is given, as many as 3 loops run in that time.
   */
  async function exactMix(partsOf: (s: TestSpec) => LoadPart[], weights: Record<string, number>, iterations: number, durationMs?: number): Promise<void> {
    const totalWeight = Object.values(weights).reduce((a, b) => a + b, 0);
    const s = spec({
      scenarios: Object.entries(weights).map(([name, weight]) => ({
        name,
        weight,
        steps: [{ name: "look", url: `/search?q=${name}`, headers: { "x-row-id": "{{driverId}}:" + name }, checks: [status200] }],
      })),
      workload: durationMs === undefined ? closed(3, iterations) : { case: "avalanche", value: { concurrency: 3, limit: { case: "durationMs", value: durationMs } } },
    });
    const { total } = await runParts(partsOf(s));
    const counts = target.counts();
    if (durationMs !== undefined) iterations = counts.byPath["/search"] ?? 0;
    Object.entries(weights).forEach(([name, weight], i) => {
      const seen = counts.byRow[`d1:${name}`] ?? 0;
      expect(Math.abs(seen - (iterations * weight) / totalWeight), `${name}: ${seen} of ${iterations}`).toBeLessThanOrEqual(1);
      expect(total.scenarios?.find((sc) => sc.scenarioIndex === i)?.iterations ?? 0, name).toBe(seen);
      expect(total.steps?.find((st) => st.stepIndex === i)?.counts.requests ?? 0, name).toBe(seen);
    });
    expect(counts.byPath["/search"]).toBe(iterations);
    expect(total.requests).toBe(iterations);
    expect(total.statusCounts.get(200)).toBe(iterations);
    // The step of a scenario that never runs has no entry.
    expect(total.steps?.map((st) => st.stepIndex)).toEqual(Object.values(weights).flatMap((w, i) => (w > 0 ? [i] : [])));
  }

  it("the mix is exact: each scenario within ±1 iteration of its weight's share, as the target counted", () =>
    exactMix((s) => [inline(s)], { browse: 5, search: 3, buy: 2, never: 0 }, 103));

  it("the mix is exact per driver on 3 threads too: they claim the picks of one sequence from one shared counter", async () => {
    const threads = new LoadThreads(3);
    await threads.start();
    try {
      const parts = (s: TestSpec) => threads.parts({ spec: s, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, driverId: "d1" });
      await exactMix(parts, { browse: 5, search: 3, buy: 2, never: 0 }, 103);
      // Three threads of 3 iterations each: on their own, each would run a, b, a (6 a's for a share of 4.5).
      target.reset();
      await exactMix(parts, { a: 1, b: 1 }, 9);
    } finally {
      await threads.close();
    }
  });

  it("the mix is exact per driver on 2 threads that run unequal counts (time-limited, 3 loops: 2 on one thread, 1 on the other)", async () => {
    const threads = new LoadThreads(2);
    await threads.start();
    try {
      const parts = (s: TestSpec) => threads.parts({ spec: s, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, driverId: "d1" });
      await exactMix(parts, { a: 3, b: 2, c: 1 }, 0, 600);
    } finally {
      await threads.close();
    }
  });

  it("a captured token reaches the later steps; per-step totals, statuses, checks and aborts equal what the target counted and answered", async () => {
    const rows = 40;
    const s = spec({
      dataFiles: [{ name: "users" }],
      scenarios: [{ name: "shop", weight: 1, dataFile: "users", steps: tokenFlowSteps }],
      workload: closed(2, rows),
    });
    const { total } = await runParts([inline(s, new Map([["users", users(rows)]]))]);
    expectTokenFlow(total, rows);
  });

  it("on 2 threads: each thread takes its rows, and the merged intervals are exactly the target's counts", async () => {
    const rows = 41;
    const threads = new LoadThreads(2);
    await threads.start();
    try {
      const s = spec({
        dataFiles: [{ name: "users", onExhausted: OnExhausted.STOP }],
        scenarios: [{ name: "shop", weight: 1, dataFile: "users", steps: tokenFlowSteps }],
        workload: closed(4, 1000),
      });
      const parts = threads.parts({ spec: s, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, driverId: "d1", data: new Map([["users", users(rows)]]) });
      const { total, halts } = await runParts(parts);
      expectTokenFlow(total, rows);
      // Both threads ran out of their rows (20 and 21) and ended there: the test as asked, no error.
      expect(halts).toEqual([]);
    } finally {
      await threads.close();
    }
  });

  it("think time is in no latency and no iteration duration", async () => {
    const thinkMs = 50;
    const iterations = 3;
    const s = spec({
      scenarios: [
        {
          name: "pause",
          weight: 1,
          steps: [
            { name: "first", url: "/search?q=a&delay=5", thinkTime: { kind: { case: "constantMs", value: thinkMs } } },
            { name: "second", url: "/search?q=b&delay=5", thinkTime: { kind: { case: "uniform", value: { minMs: thinkMs, maxMs: thinkMs + 10 } } } },
          ],
        },
      ],
      workload: closed(1, iterations),
    });
    const { total, ranMs } = await runParts([inline(s)]);
    // Six pauses of at least 50 ms (the last one before the loop asks for a fourth iteration).
    expect(ranMs).toBeGreaterThanOrEqual(2 * iterations * thinkMs);
    for (const i of [0, 1]) {
      const h = decodeHistogram(stepOf(total, i).counts.latencyHistogram);
      expect(h.totalCount).toBe(iterations);
      // The target's 5 ms (its timer may fire a little early) is in the latency.
      expect(h.minNonZeroValue).toBeGreaterThanOrEqual(4000);
      expect(h.maxValue).toBeLessThan(thinkMs * 1000 * 0.6);
    }
    const duration = decodeHistogram(total.scenarios![0]!.iterationHistogram);
    expect(duration.totalCount).toBe(iterations);
    expect(duration.minNonZeroValue).toBeGreaterThanOrEqual(8000);
    expect(duration.maxValue).toBeLessThan(thinkMs * 1000);
  });

  it("tsunami: a first step counts from the iteration's scheduled start, a later step from its own send", async () => {
    const s = spec({
      scenarios: [{ name: "co", weight: 1, steps: [{ name: "slow", url: "/search?q=a&delay=40" }, { name: "next", url: "/search?q=b" }] }],
      workload: { case: "tsunami", value: { delayMs: 10, maxInFlight: 1, limit: { case: "requestsPerDriver", value: 8n } } },
    });
    const { total } = await runParts([inline(s)]);
    const first = stepOf(total, 0).counts;
    const latency = decodeHistogram(first.latencyHistogram);
    const service = decodeHistogram(first.serviceTimeHistogram);
    expect(latency.totalCount).toBe(8);
    // Held back by max_in_flight 1 behind 40 ms answers: the 8th iteration was due at 70 ms and started after 280 ms.
    expect(service.maxValue).toBeLessThan(150_000);
    expect(latency.maxValue).toBeGreaterThan(200_000);
    expect(total.late).toBeGreaterThan(0);
    // The second step's latency is its service time.
    const second = stepOf(total, 1).counts;
    expect(decodeHistogram(second.latencyHistogram).outputPercentileDistribution()).toBe(decodeHistogram(second.serviceTimeHistogram).outputPercentileDistribution());
    // The iteration's duration counts from the scheduled start too.
    expect(decodeHistogram(total.scenarios![0]!.iterationHistogram).maxValue).toBeGreaterThanOrEqual(latency.maxValue);
  });

  it("arrival rate drives iterations: every scheduled one runs, the mix exact, a full cap drops iterations", async () => {
    const scenario = (name: string, weight: number) => ({
      name,
      weight,
      steps: [
        { name: "read", url: `/search?q=${name}`, headers: { "x-row-id": `{{driverId}}:${name}` } },
        { name: "again", url: `/search?q=${name}&delay=5` },
      ],
    });
    // 200/s for 500 ms: iterations due at 0, 5, …, 495 ms.
    const open = spec({ scenarios: [scenario("read", 8), scenario("write", 2)], workload: { case: "arrivalRate", value: { ratePerS: 200, durationMs: 500 } } });
    const { total } = await runParts([inline(open)]);
    const counts = target.counts();
    expect([counts.byRow["d1:read"], counts.byRow["d1:write"]]).toEqual([80, 20]);
    expect(total.scenarios!.map((s) => s.iterations)).toEqual([80, 20]);
    expect([total.dropped, total.requests, counts.byPath["/search"]]).toEqual([0, 200, 200]);
    // One iteration in flight at most, each ~5 ms behind its second step: about every other one is dropped.
    target.reset();
    const capped = spec({ scenarios: [scenario("read", 1)], workload: { case: "arrivalRate", value: { ratePerS: 200, durationMs: 500, maxInFlight: 1 } } });
    const c = await runParts([inline(capped)]);
    const ran = c.total.scenarios![0]!.iterations;
    expect(ran + c.total.dropped).toBe(100);
    expect(c.total.dropped).toBeGreaterThan(10);
    expect(target.counts().byRow["d1:read"]).toBe(ran);
  });

  it("a body that is not JSON fails JSONPath checks and finds no JSONPath capture; a missing capture aborts when told to, and renders empty otherwise", async () => {
    const iterations = 12;
    const s = spec({
      scenarios: [
        {
          name: "text",
          weight: 1,
          steps: [
            {
              name: "pong",
              url: "/ping",
              captures: [
                { name: "id", source: { case: "jsonPath", value: "$.id" } },
                { name: "word", source: { case: "regex", value: { pattern: "p(o)ng", group: 1 } } },
              ],
              checks: [{ name: "has id", kind: { case: "jsonPath", value: { path: "$.id", op: JsonPathOp.EXISTS } } }, { name: "says pong", kind: { case: "bodyContains", value: "pong" } }],
            },
            // {{id}} renders empty: the row id is "-o".
            { name: "use", url: "/search?q=x", headers: { "x-row-id": "{{id}}-{{word}}" }, onCaptureMissing: CaptureMissing.ABORT_ITERATION, captures: [{ name: "nothing", source: { case: "header", value: "x-none" } }] },
            { name: "never", url: "/search?q=never" },
          ],
        },
      ],
      workload: closed(2, iterations),
    });
    const { total } = await runParts([inline(s)]);
    const [pong, use] = [stepOf(total, 0), stepOf(total, 1)];
    expect(checks(pong)).toEqual([
      ["has id", 0, iterations],
      ["says pong", iterations, 0],
    ]);
    expect([pong.captureMissing, pong.abortedIterations, use.captureMissing, use.abortedIterations]).toEqual([iterations, 0, iterations, iterations]);
    expect(total.steps!.map((st) => st.stepIndex)).toEqual([0, 1]);
    expect(target.counts().byRow).toEqual({ "-o": iterations });
    expect(total.scenarios).toEqual([expect.objectContaining({ iterations, aborted: iterations })]);
  });

  it("a relative step URL stays on the target's origin whatever its slots render (`//host` included)", async () => {
    const s = spec({
      dataFiles: [{ name: "paths" }],
      scenarios: [{ name: "p", weight: 1, dataFile: "paths", steps: [{ name: "get", url: "/{{row.p}}/x" }] }],
      workload: closed(1, 2),
    });
    const { total } = await runParts([inline(s, new Map([["paths", { columns: ["p"], rows: [["/elsewhere.invalid"], ["ok"]] }]]))]);
    expect(total.errorCounts).toEqual(new Map());
    expect(target.counts().byPath).toEqual({ "//elsewhere.invalid/x": 1, "/ok/x": 1 });
  });

  it("data rows: wrap starts over, stop ends the part (no error: the test as asked); shuffle uses each row once per pass", async () => {
    const run = async (onExhausted: OnExhausted, order: DataOrder, iterations: number) => {
      target.reset();
      const s = spec({
        dataFiles: [{ name: "users", onExhausted, order }],
        scenarios: [{ name: "rows", weight: 1, dataFile: "users", steps: [{ name: "find", url: "/search?q={{row.user}}", headers: { "x-row-id": "{{row.id}}" } }] }],
        workload: closed(2, iterations),
      });
      const r = await runParts([inline(s, new Map([["users", users(10)]]))]);
      return { ...r, byRow: target.counts().byRow };
    };
    const wrapped = await run(OnExhausted.WRAP, DataOrder.SEQUENTIAL, 25);
    expect(Object.values(wrapped.byRow).sort()).toEqual([2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    expect(wrapped.byRow["1"]).toBe(3);
    expect(wrapped.halts).toEqual([]);
    const stopped = await run(OnExhausted.STOP, DataOrder.SHUFFLE, 1000);
    expect(stopped.total.requests).toBe(10);
    expect(Object.values(stopped.byRow)).toEqual(Array(10).fill(1));
    expect(stopped.halts).toEqual([]);
    expect(stopped.total.scenarios![0]!.iterations).toBe(10);
    const shuffled = await run(OnExhausted.WRAP, DataOrder.SHUFFLE, 20);
    expect(Object.values(shuffled.byRow)).toEqual(Array(10).fill(2));
  });

  it("built-ins render per request: driverId, iteration (from 0, each once), randInt in its bounds, a fresh uuid, the clock", async () => {
    const iterations = 30;
    const before = Date.now();
    const s = spec({
      scenarios: [{ name: "b", weight: 1, steps: [{ name: "s", url: "/search?q=x", headers: { "x-row-id": "{{driverId}}/{{iteration}}/{{randInt 1 3}}/{{uuid}}/{{nowMs}}" } }] }],
      workload: closed(3, iterations),
    });
    await runParts([inline(s)]);
    const after = Date.now();
    const keys = Object.keys(target.counts().byRow).map((k) => k.split("/"));
    expect(keys).toHaveLength(iterations);
    expect(keys.map((k) => k[0])).toEqual(Array(iterations).fill("d1"));
    expect(keys.map((k) => Number(k[1])).sort((a, b) => a - b)).toEqual(Array.from({ length: iterations }, (_, i) => i));
    expect(new Set(keys.map((k) => k[2]))).toEqual(new Set(["1", "2", "3"]));
    for (const k of keys) expect(k[3]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const k of keys) expect(Number(k[4])).toBeGreaterThanOrEqual(before);
    for (const k of keys) expect(Number(k[4])).toBeLessThanOrEqual(after);
  });

  it("a one-step constant scenario runs on the fast path, its status and latency checks counted per request", async () => {
    const s = spec({
      scenarios: [
        {
          name: "smoke",
          weight: 1,
          steps: [{ name: "ping", url: "/items/7?fail=7", checks: [status200, { name: "fast", kind: { case: "latencyBelowMs", value: 5000 } }] }],
        },
      ],
      workload: closed(2, 50),
    });
    const recorder = new ScenarioRecorder(false, recorderShape(s));
    const transport = createScenarioTransport({
      spec: s,
      recorder,
      data: new Map(),
      thread: { index: 0, count: 1 },
      counter: newIterationCounter(),
      driverId: "d1",
      kind: undefined,
      timeoutMs: 5000,
      concurrency: 2,
      pipelining: 1,
      scheduled: false,
      ended: () => undefined,
      exhausted: () => undefined,
    });
    expect(transport).toBeInstanceOf(FastTransport);
    await transport.close(true);
    const { total } = await runParts([inline(s)]);
    // Without a token the target answers 401 to every request.
    expect(target.counts().byStatus).toEqual({ "401": 50 });
    expect(checks(stepOf(total, 0))).toEqual([
      ["status 200", 0, 50],
      ["fast", 50, 0],
    ]);
    expect(total.scenarios).toEqual([expect.objectContaining({ iterations: 50, aborted: 0 })]);
    // The step's numbers are the totals', and each iteration's duration is its request's latency (all failed here).
    const step = stepOf(total, 0).counts;
    expect([step.requests, [...step.statusCounts], step.bytesReceived]).toEqual([50, [[401, 50]], total.bytesReceived]);
    expect(decodeHistogram(step.failedLatencyHistogram).outputPercentileDistribution()).toBe(decodeHistogram(total.failedLatencyHistogram).outputPercentileDistribution());
    expect(decodeHistogram(total.scenarios![0]!.iterationHistogram).outputPercentileDistribution()).toBe(decodeHistogram(total.failedLatencyHistogram).outputPercentileDistribution());
  });
});
