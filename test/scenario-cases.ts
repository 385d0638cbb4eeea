/**
 * Issue 20's "Done when" cases, written once ({@link flowCases}) and run over the in-process bus
 * (test/scenarios-in-process.test.ts) and over a real Kafka broker with driver processes
 * (test/scenarios-kafka.test.ts). The ground truth is the target's own counts (target/flow-api.ts):
 * per path, user, token, item, data row (`x-row-id`) and status. Every case resets the target first,
 * so a fleet's target must serve one case at a time.
 */
import { Code } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { expect, it } from "vitest";
import {
  DataFormat,
  DataOrder,
  DataSplit,
  HeaderOp,
  OnExhausted,
  type ScenarioSchema,
} from "../gen/kannon/v1/scenario_pb.js";
import type { Report, Stats, StepStats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import type { TargetCounts } from "../target/target.js";
import type { WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import { formatReport } from "../cli/summary.js";
import { status200, tokenFlowChecks, tokenFlowSteps } from "./flow-steps.js";
import { rpcError, runToEnd, spec, type OrchestratorClient } from "./helpers.js";

/** Where a case runs: an orchestrator's API, a target nobody else loads, the fleet's driver ids. */
export interface FlowFleet {
  client: OrchestratorClient;
  /** The target's base URL, without a trailing slash. */
  targetUrl: string;
  /** The ids of the drivers the tests get (all of the fleet: driver_count 0). */
  driverIds: readonly string[];
}

type ScenarioInit = MessageInitShape<typeof ScenarioSchema>;

/** Zeroes the target's counters (POST /reset). */
export async function resetTarget(targetUrl: string): Promise<void> {
  const res = await fetch(`${targetUrl}/reset`, { method: "POST" });
  expect(res.status).toBe(204);
}

/** The target's counters (GET /metrics), flow API included. */
export async function flowCounts(targetUrl: string): Promise<TargetCounts> {
  return (await (await fetch(`${targetUrl}/metrics`)).json()) as TargetCounts;
}

/** Runs a scenario test to its end on the whole fleet; returns its report and the target's counts of it. */
async function runFlow(
  fleet: FlowFleet,
  init: Omit<MessageInitShape<typeof TestSpecSchema>, "targetUrl" | "$typeName">,
): Promise<{ report: Report; counts: TargetCounts; ranMs: number; views: Stats[][] }> {
  await resetTarget(fleet.targetUrl);
  const { id, messages } = await runToEnd(fleet.client, spec({ targetUrl: `${fleet.targetUrl}/`, reportIntervalMs: 250, ...init }));
  const { report } = await fleet.client.getReport({ testId: id });
  const counts = await flowCounts(fleet.targetUrl);
  const { test } = await fleet.client.getTest({ testId: id });
  // From the fleet's common start to the end of the test (after the drivers' final metrics).
  const ranMs = timestampMs(test!.endedAt!) - timestampMs(test!.startAt!);
  expect(report!.state, report!.message).toBe(TestState.COMPLETED);
  expect(report!.partial, `${report!.message} / ${report!.drivers.map((d) => d.message).join(" / ")}`).toBe(false);
  expect(report!.drivers.map((d) => d.driverId).sort()).toEqual([...fleet.driverIds].sort());
  return { report: report!, counts, ranMs, views: await intervalViews(fleet.client, id, messages) };
}

/**
 * A test's interval series three ways: as WatchTest streamed them, as ListIntervals pages them, and
 * as the report holds them.
 */
async function intervalViews(client: OrchestratorClient, id: string, watched: WatchTestResponse[]): Promise<Stats[][]> {
  const listed: Stats[] = [];
  for (let pageToken = ""; ; ) {
    const page = await client.listIntervals({ testId: id, pageToken });
    listed.push(...page.intervals);
    if (!(pageToken = page.nextPageToken)) break;
  }
  const { report } = await client.getReport({ testId: id });
  return [watched.flatMap((m) => (m.interval ? [m.interval] : [])), listed, report!.intervals];
}

/** Per step index, the requests the intervals of one view add up to. */
function stepRequestsOver(intervals: readonly Stats[]): Map<number, number> {
  const sums = new Map<number, number>();
  for (const i of intervals) for (const s of i.steps) sums.set(s.stepIndex, (sums.get(s.stepIndex) ?? 0) + Number(s.stats!.requests));
  return sums;
}


/** The step named `scenario/step` in merged stats, or a failed expectation. */
function stepOf(stats: Stats, scenario: string, step: string): StepStats {
  const found = stats.steps.find((s) => s.scenario === scenario && s.step === step);
  expect(found, `no per-step row for ${scenario}/${step}: ${stats.steps.map((s) => `${s.scenario}/${s.step}`).join(", ")}`).toBeDefined();
  return found!;
}

/** Iterations of each named scenario in merged stats (0 when absent). */
function iterationsOf(stats: Stats, scenario: string): number {
  return Number(stats.scenarios.find((s) => s.scenario === scenario)?.iterations ?? 0n);
}

/**
 * The mix is exact: per driver, each scenario runs within ±1 iteration of its weight's share of the
 * driver's iterations. Each scenario's one step tags its request `x-row-id: DRIVER:SCENARIO`, so the
 * target counts every driver's mix itself.
 */
async function exactMix(fleet: FlowFleet): Promise<void> {
  const weights: Record<string, number> = { browse: 5, search: 3, buy: 2, never: 0 };
  const perDriver = 103;
  const scenarios: ScenarioInit[] = Object.entries(weights).map(([name, weight]) => ({
    name,
    weight,
    steps: [{ name: "look", url: `/search?q=${name}`, headers: { "x-row-id": `{{driverId}}:${name}` }, checks: [status200] }],
  }));
  const { report, counts } = await runFlow(fleet, {
    scenarios,
    workload: { case: "avalanche", value: { concurrency: 3, limit: { case: "requestsPerDriver", value: BigInt(perDriver) } } },
  });
  const totalWeight = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const driver of fleet.driverIds) {
    const stats = report.drivers.find((d) => d.driverId === driver)!.stats!;
    for (const [name, weight] of Object.entries(weights)) {
      const seen = counts.byRow[`${driver}:${name}`] ?? 0;
      const share = (perDriver * weight) / totalWeight;
      expect(Math.abs(seen - share), `${driver} ran ${name} ${seen} times, its share is ${share}`).toBeLessThanOrEqual(1);
      expect(iterationsOf(stats, name), `${driver}'s report of ${name}`).toBe(seen);
    }
  }
  expect(counts.byPath["/search"]).toBe(perDriver * fleet.driverIds.length);
  expect(report.total!.requests).toBe(BigInt(perDriver * fleet.driverIds.length));
  expect(report.total!.statusCounts[200]).toBe(BigInt(perDriver * fleet.driverIds.length));
}

/**
 * The mix stays exact per driver when the count is not fixed: a time-limited avalanche, 3 loops (on
 * a driver with 2 load threads: 2 loops on one, 1 on the other, so its threads run unequal counts),
 * weights whose shares are fractions. Each driver's count is what the target saw from it.
 */
async function exactMixTimed(fleet: FlowFleet): Promise<void> {
  const weights: Record<string, number> = { a: 3, b: 2, c: 1 };
  const scenarios: ScenarioInit[] = Object.entries(weights).map(([name, weight]) => ({
    name,
    weight,
    steps: [{ name: "look", url: `/search?q=${name}`, headers: { "x-row-id": `{{driverId}}:${name}` } }],
  }));
  const { report, counts } = await runFlow(fleet, { scenarios, workload: { case: "avalanche", value: { concurrency: 3, limit: { case: "durationMs", value: 1000 } } } });
  const totalWeight = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const driver of fleet.driverIds) {
    const stats = report.drivers.find((d) => d.driverId === driver)!.stats!;
    const ran = Object.keys(weights).reduce((n, name) => n + (counts.byRow[`${driver}:${name}`] ?? 0), 0);
    expect(ran, driver).toBeGreaterThan(6);
    for (const [name, weight] of Object.entries(weights)) {
      const seen = counts.byRow[`${driver}:${name}`] ?? 0;
      const share = (ran * weight) / totalWeight;
      expect(Math.abs(seen - share), `${driver} ran ${name} ${seen} times of ${ran}, its share is ${share}`).toBeLessThanOrEqual(1);
      expect(iterationsOf(stats, name), `${driver}'s report of ${name}`).toBe(seen);
    }
  }
}

/** `count` CSV rows `id,user`: ids 1..count, users `u1`.. (ids are numbers, so `?fail=N` picks some). */
function usersCsv(count: number): string {
  return ["id,user", ...Array.from({ length: count }, (_, i) => `${i + 1},u${i + 1}`)].join("\n") + "\n";
}

/**
 * With split EXCLUSIVE (shuffled, stopping when exhausted), each row goes to exactly one driver and
 * is used once: every driver asks for more iterations than it has rows, the target sees every id
 * exactly once, and the test ends when the rows do.
 */
async function rowsUsedOnce(fleet: FlowFleet): Promise<void> {
  const rows = 100 * fleet.driverIds.length;
  const { report, counts } = await runFlow(fleet, {
    dataFiles: [
      { name: "users", format: DataFormat.CSV, content: usersCsv(rows), split: DataSplit.EXCLUSIVE, order: DataOrder.SHUFFLE, onExhausted: OnExhausted.STOP },
    ],
    scenarios: [
      { name: "rows", weight: 1, dataFile: "users", steps: [{ name: "find", url: "/search?q={{row.user}}", headers: { "x-row-id": "{{row.id}}" } }] },
    ],
    workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 1000n } } },
  });
  const ids = Object.keys(counts.byRow).map(Number).sort((a, b) => a - b);
  expect(ids).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
  expect(Object.values(counts.byRow).every((n) => n === 1), JSON.stringify(counts.byRow)).toBe(true);
  expect(report.total!.requests).toBe(BigInt(rows));
  for (const d of report.drivers) expect(iterationsOf(d.stats!, "rows"), d.driverId).toBe(rows / fleet.driverIds.length);
  // Every driver ran out of its rows (on_exhausted stop) and stopped there: the test as asked, so
  // the report is complete, not partial, and says which files ran out where.
  expect(report.state).toBe(TestState.COMPLETED);
  expect(report.partial).toBe(false);
  expect(report.message).toBe("");
  for (const d of report.drivers) {
    expect(d.dataExhausted, d.driverId).toEqual(["users"]);
    expect(d.message, d.driverId).toBe("");
  }
  const summary = formatReport(report);
  for (const id of fleet.driverIds) expect(summary).toContain(`${id}: `);
  expect(summary.match(/data file "users" ran out \(on_exhausted: stop\)/g)).toHaveLength(fleet.driverIds.length);
  expect(summary).not.toContain("partial");
}

/**
 * Log in → item → cart, one CSV row per iteration (split over the fleet, each row once). The token
 * captured from /login reaches the later steps (the target counts requests per token); the item step
 * fails on purpose for ids that are multiples of 7 (`?fail=7`) and aborts its iteration; per-step
 * totals, statuses, check counts and aborts equal what the target counted and answered.
 */
async function tokenFlow(fleet: FlowFleet): Promise<void> {
  const rows = 20 * fleet.driverIds.length;
  const failing = Math.floor(rows / 7);
  const { report, counts, views } = await runFlow(fleet, {
    dataFiles: [{ name: "users", format: DataFormat.CSV, content: usersCsv(rows), split: DataSplit.EXCLUSIVE }],
    scenarios: [{ name: "shop", weight: 1, dataFile: "users", steps: tokenFlowSteps }],
    workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: BigInt(rows / fleet.driverIds.length) } } },
  });
  const total = report.total!;
  const [login, item, cart] = ["login", "item", "cart"].map((s) => stepOf(total, "shop", s)) as [StepStats, StepStats, StepStats];

  // What the target was made to answer: 500 for the ids that are multiples of 7, nothing else fails.
  expect(counts.byStatus["500"]).toBe(failing);
  expect(Object.keys(counts.byStatus).sort()).toEqual(["200", "500"]);
  // Every row once, each user logged in once, each login's token used by the later steps of its iteration.
  expect(Object.keys(counts.byRow)).toHaveLength(rows);
  expect(Object.values(counts.byRow).every((n) => n === 1)).toBe(true);
  const tokens = Object.entries(counts.byToken);
  expect(tokens).toHaveLength(rows);
  expect(tokens.filter(([, n]) => n === 2)).toHaveLength(rows - failing); // item and cart
  expect(tokens.filter(([, n]) => n === 1)).toHaveLength(failing); // item only: the iteration aborted
  for (let u = 1; u <= rows; u++) expect(counts.byUser[`u${u}`], `u${u}`).toBe(u % 7 === 0 ? 2 : 3);
  expect(Object.keys(counts.byItem)).toHaveLength(rows);

  // Per-step totals equal the target's per-path counts; the total is their sum.
  expect(Number(login.stats!.requests)).toBe(counts.byPath["/login"]);
  expect(Number(item.stats!.requests)).toBe(counts.byPath["/items/{id}"]);
  expect(Number(cart.stats!.requests)).toBe(counts.byPath["/cart"]);
  expect(counts.byPath["/login"]).toBe(rows);
  expect(counts.byPath["/cart"]).toBe(rows - failing);
  expect(Number(total.requests)).toBe(counts.requests);
  expect(Number(total.statusCounts[500] ?? 0n)).toBe(failing);
  expect(Number(item.stats!.statusCounts[500] ?? 0n)).toBe(failing);
  expect(Number(item.stats!.errors)).toBe(failing);
  expect(Number(login.stats!.errors) + Number(cart.stats!.errors)).toBe(0);

  // Check counts: what the target answered, per check and per step.
  const checks = (s: StepStats) => s.checks.map((c) => [c.name, Number(c.passed), Number(c.failed)]);
  expect([login, item, cart].map(checks)).toEqual(tokenFlowChecks(rows, failing));
  expect(Number(item.abortedIterations)).toBe(failing);
  expect(Number(login.captureMissing)).toBe(0);
  const shop = total.scenarios.find((s) => s.scenario === "shop")!;
  expect(Number(shop.iterations)).toBe(rows);
  expect(Number(shop.aborted)).toBe(failing);
  // WatchTest, ListIntervals and the report's intervals carry per-step rows that add up to the totals.
  const totals = new Map(total.steps.map((s) => [s.stepIndex, Number(s.stats!.requests)]));
  expect([...totals.keys()]).toEqual([0, 1, 2]);
  for (const view of views) expect(stepRequestsOver(view)).toEqual(totals);
  // The drivers' rows add up to the total, per step.
  const perDriver = report.drivers.reduce((sum, d) => sum + Number(stepOf(d.stats!, "shop", "item").stats!.requests), 0);
  expect(perDriver).toBe(rows);
}

/**
 * Think time is never in a latency: two steps against a target that answers in ~20 ms, each followed
 * by 300 ms (constant) or 300–350 ms (uniform) of think time, on the closed model (2 loops per
 * driver, 2 iterations each) and on a fixed schedule (tsunami: an iteration every 100 ms, so they
 * overlap). The run takes at least the think time it was told to, yet no step's latency and no
 * iteration's duration reaches it.
 */
async function thinkTimeOutsideLatency(fleet: FlowFleet): Promise<void> {
  const iterations = 4;
  const thinkMs = 300;
  const workloads = [
    // Each of a driver's 2 loops runs 2 iterations of 2 steps, ≥ 300 ms after each (the last pause may end the run).
    { workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: BigInt(iterations) } } }, minRunMs: 3 * thinkMs },
    // The last iteration is due at 300 ms, and its second step follows its first pause.
    { workload: { case: "tsunami", value: { delayMs: 100, limit: { case: "requestsPerDriver", value: BigInt(iterations) } } }, minRunMs: 300 + thinkMs },
  ] as const;
  for (const { workload, minRunMs } of workloads) {
    const { report, ranMs } = await runFlow(fleet, {
      scenarios: [
        {
          name: "pause",
          weight: 1,
          steps: [
            { name: "first", url: "/search?q=a&delay=20", thinkTime: { kind: { case: "constantMs", value: thinkMs } } },
            { name: "second", url: "/search?q=b&delay=20", thinkTime: { kind: { case: "uniform", value: { minMs: thinkMs, maxMs: thinkMs + 50 } } } },
          ],
        },
      ],
      workload,
    });
    expect(ranMs, workload.case).toBeGreaterThanOrEqual(minRunMs);
    const total = report.total!;
    for (const name of ["first", "second"]) {
      const latency = stepOf(total, "pause", name).stats!.latency!;
      expect(Number(latency.count)).toBe(iterations * fleet.driverIds.length);
      expect(Number(latency.minUs)).toBeGreaterThanOrEqual(15_000); // the target waited 20 ms (timers may fire a little early; HDR buckets round down)
      expect(Number(latency.maxUs), `${workload.case}: ${name} latency`).toBeLessThan(thinkMs * 1000);
    }
    const duration = total.scenarios.find((s) => s.scenario === "pause")!.iterationDuration!;
    expect(Number(duration.count)).toBe(iterations * fleet.driverIds.length);
    expect(Number(duration.minUs)).toBeGreaterThanOrEqual(30_000);
    expect(Number(duration.maxUs), `${workload.case}: iteration duration`).toBeLessThan(thinkMs * 1000);
    expect(Number(total.latency!.maxUs)).toBeLessThan(thinkMs * 1000);
  }
}

/** The old single-request spec runs as before: no per-step or per-scenario rows anywhere, totals equal the target's count. */
async function singleRequestUnchanged(fleet: FlowFleet): Promise<void> {
  const perDriver = 200;
  await resetTarget(fleet.targetUrl);
  const { id, messages } = await runToEnd(
    fleet.client,
    spec({
      targetUrl: `${fleet.targetUrl}/ping`,
      reportIntervalMs: 250,
      workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: BigInt(perDriver) } } },
    }),
  );
  const { report } = await fleet.client.getReport({ testId: id });
  const counts = await flowCounts(fleet.targetUrl);
  const n = perDriver * fleet.driverIds.length;
  expect(report!.state).toBe(TestState.COMPLETED);
  expect(report!.total!.requests).toBe(BigInt(n));
  expect(report!.total!.statusCounts[200]).toBe(BigInt(n));
  expect(report!.total!.latency!.count).toBe(BigInt(n));
  expect(counts.byPath["/ping"]).toBe(n);
  for (const d of report!.drivers) expect(d.stats!.requests).toBe(BigInt(perDriver));
  // Every view a scenario test fills per step: the total, each driver, the intervals three ways, WatchTest's cumulative.
  const views = await intervalViews(fleet.client, id, messages);
  expect(views.every((v) => v.length > 0)).toBe(true);
  const all = [report!.total!, ...report!.drivers.map((d) => d.stats!), ...views.flat(), ...messages.flatMap((m) => (m.cumulative ? [m.cumulative] : []))];
  expect(all.filter((s) => s.steps.length > 0 || s.scenarios.length > 0)).toEqual([]);
  const { test } = await fleet.client.getTest({ testId: id });
  expect(test!.spec!.scenarios).toHaveLength(0);
}

/**
 * A spec with every kind of scenario problem at once is refused with invalid_argument naming each
 * field (and nothing is stored): an unknown template name, a JSONPath that does not compile, a
 * regular expression that could backtrack catastrophically, a ragged CSV row, duplicate scenario and
 * step names, and every weight 0.
 */
async function badScenariosRefused(fleet: FlowFleet): Promise<void> {
  const before = (await fleet.client.listTests({})).tests.length;
  const err = await rpcError(
    fleet.client.createTest({
      spec: spec({
        targetUrl: `${fleet.targetUrl}/`,
        dataFiles: [{ name: "users", format: DataFormat.CSV, content: "id,user\n1,u1\n2,u2,extra\n" }],
        scenarios: [
          {
            name: "a",
            weight: 0,
            dataFile: "users",
            steps: [
              {
                name: "s",
                url: "/search?q={{nope}}",
                captures: [{ name: "t", source: { case: "jsonPath", value: "$.[" } }],
                checks: [{ name: "c", kind: { case: "header", value: { name: "x", op: HeaderOp.MATCHES, value: "(a+)+$" } } }],
              },
              { name: "s", url: "/ping" },
            ],
          },
          { name: "a", weight: 0, steps: [{ name: "only", url: "/ping" }] },
        ],
        workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } },
      }),
    }),
  );
  expect(err.code).toBe(Code.InvalidArgument);
  // Each problem names its field, then says what is wrong there (problems are joined with "; ").
  const problems: [string, string][] = [
    ["spec.scenarios[0].steps[0].url", "nope"],
    ["spec.scenarios[0].steps[0].captures[0].json_path", "$.["],
    ["spec.scenarios[0].steps[0].checks[0].header.value", "(a+)+$"],
    ["spec.data_files[0].content", "line 3"],
    ["spec.scenarios[1].name", '"a"'],
    ["spec.scenarios[0].steps[1].name", '"s"'],
    ["spec.scenarios", "weight"],
  ];
  const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const [field, detail] of problems) expect(err.rawMessage).toMatch(new RegExp(`${quote(field)}:? [^;]*${quote(detail)}`));
  expect((await fleet.client.listTests({})).tests.length).toBe(before);
}

/** Registers every case above as a test of the enclosing describe, on the fleet `fleet()` returns once its setup ran. */
export function flowCases(fleet: () => FlowFleet): void {
  it("the mix is exact: per driver, each scenario within ±1 iteration of its weight's share", () => exactMix(fleet()));
  it("the mix is exact per driver in a time-limited test too, whatever each load thread ran", () => exactMixTimed(fleet()));
  it("with split exclusive, every row is used exactly once across 3 drivers", () => rowsUsedOnce(fleet()));
  it("a captured token reaches later steps; per-step totals, statuses and checks equal what the target counted and answered", () =>
    tokenFlow(fleet()));
  it("think time is in no step latency and no iteration duration, closed model and fixed schedule", () => thinkTimeOutsideLatency(fleet()));
  it("the old single-request spec gives the same report: no per-step or per-scenario rows", () => singleRequestUnchanged(fleet()));
  it("CreateTest names every scenario problem at once, with its field path, and stores nothing", () => badScenariosRefused(fleet()));
}
