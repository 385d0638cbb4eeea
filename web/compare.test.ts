import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ReportSchema, type Report } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { compareHtml } from "./compare-html.js";
import { compareReports, judgeComparison, parseRegressionRule, type CompareStat, type RegressionRule, type StatChange } from "./compare.js";

/** A latency summary whose percentiles are p50 = a, p90 = b, p99 = c, p99.9 = d, max = e (µs). */
const lat = (a: bigint, b: bigint, c: bigint, d: bigint, e: bigint) => ({ count: 100n, minUs: 1n, p50Us: a, p90Us: b, p95Us: b, p99Us: c, p999Us: d, maxUs: e, meanUs: 1 });

interface StepIn {
  scenario: string;
  step: string;
  requests: bigint;
  rps: number;
  errors: bigint;
  passed: bigint;
  failed: bigint;
  latency?: ReturnType<typeof lat>;
}

/** A hand-built report: a total and its steps (the total's numbers given apart, as the orchestrator fills them). */
function report(id: string, total: { requests: bigint; rps: number; errors: bigint; latency: ReturnType<typeof lat> }, steps: StepIn[], scenarios: { name: string; iteration: ReturnType<typeof lat> }[] = []): Report {
  return create(ReportSchema, {
    testId: id,
    state: TestState.COMPLETED,
    spec: { name: `run ${id}` },
    total: {
      requests: total.requests,
      requestsPerS: total.rps,
      errors: total.errors,
      latency: total.latency,
      scenarios: scenarios.map((s, i) => ({ scenarioIndex: i, scenario: s.name, iterations: 10n, iterationsPerS: 1, iterationDuration: s.iteration })),
      steps: steps.map((s, i) => ({
        stepIndex: i,
        scenario: s.scenario,
        step: s.step,
        stats: { requests: s.requests, requestsPerS: s.rps, errors: s.errors, ...(s.latency ? { latency: s.latency } : {}) },
        checks: [{ name: "ok", passed: s.passed, failed: s.failed }],
      })),
    },
  });
}

const rules = (...texts: string[]) => texts.map((t) => parseRegressionRule(t) as RegressionRule);

describe("compare two reports", () => {
  const base = report(
    "a",
    { requests: 1000n, rps: 100, errors: 10n, latency: lat(2000n, 4000n, 10_000n, 20_000n, 30_000n) },
    [
      { scenario: "shop", step: "login", requests: 500n, rps: 50, errors: 0n, passed: 500n, failed: 0n, latency: lat(1000n, 2000n, 5000n, 8000n, 9000n) },
      { scenario: "shop", step: "search", requests: 500n, rps: 50, errors: 10n, passed: 490n, failed: 10n, latency: lat(3000n, 5000n, 12_000n, 20_000n, 30_000n) },
      { scenario: "shop", step: "old", requests: 1n, rps: 0.1, errors: 0n, passed: 0n, failed: 0n },
    ],
    [{ name: "shop", iteration: lat(4000n, 8000n, 20_000n, 30_000n, 40_000n) }],
  );
  const candidate = report(
    "b",
    { requests: 800n, rps: 80, errors: 16n, latency: lat(2200n, 4000n, 40_000n, 50_000n, 60_000n) },
    [
      { scenario: "shop", step: "login", requests: 400n, rps: 40, errors: 0n, passed: 400n, failed: 0n, latency: lat(1050n, 2000n, 5400n, 8000n, 9000n) },
      { scenario: "shop", step: "search", requests: 400n, rps: 40, errors: 16n, passed: 380n, failed: 20n, latency: lat(30_000n, 35_000n, 40_000n, 50_000n, 60_000n) },
      { scenario: "shop", step: "new", requests: 2n, rps: 0.2, errors: 0n, passed: 2n, failed: 0n },
    ],
    [{ name: "shop", iteration: lat(4000n, 8000n, 20_000n, 30_000n, 40_000n) }],
  );
  const c = compareReports(base, candidate);
  const row = (name: string) => Object.fromEntries(c.rows.find((r) => r.name === name)!.changes.map((x) => [x.stat, x])) as Record<CompareStat, StatChange>;

  it("matches the total, scenarios and steps by name; the rest is listed as only in one run", () => {
    expect(c.rows.map((r) => `${r.kind} ${r.name}`)).toEqual(["total total", "scenario shop", "step shop/login", "step shop/search"]);
    expect(c.onlyInBase).toEqual(["step shop/old"]);
    expect(c.onlyInCandidate).toEqual(["step shop/new"]);
    expect([c.base.testId, c.candidate.testId, c.base.name]).toEqual(["a", "b", "run a"]);
  });

  it("each statistic's change: relative for counts and latencies, in points for rates", () => {
    const t = row("total");
    expect(t.requests).toMatchObject({ base: 1000, candidate: 800, change: -0.2 }); // 800 / 1000 − 1
    expect(t.rps).toMatchObject({ base: 100, candidate: 80, change: -0.2 });
    expect(t.error_rate.base).toBeCloseTo(0.01); // 10 / 1000
    expect(t.error_rate.candidate).toBeCloseTo(0.02); // 16 / 800
    expect(t.error_rate.change).toBeCloseTo(0.01); // 1 point
    expect(t.checks.base).toBeCloseTo(990 / 1000); // 500 + 490 of 1000 (the step "old" ran no check)
    expect(t.checks.candidate).toBeCloseTo(782 / 802); // 400 + 380 + 2 of 802
    expect(t.p99).toMatchObject({ base: 10_000, candidate: 40_000, change: 3 }); // 40 / 10 − 1
    expect(t.p50.change).toBeCloseTo(0.1); // 2.2 / 2.0 − 1
    const s = row("shop/search");
    expect(s.p50.change).toBeCloseTo(9); // 30 / 3 − 1
    expect(s.checks.change).toBeCloseTo(380 / 400 - 490 / 500); // 0.95 − 0.98 = −3 points
    const sc = row("shop");
    expect(sc.requests).toMatchObject({ base: 1001, candidate: 802 }); // its steps' requests
    expect(sc.p99).toMatchObject({ base: 20_000, candidate: 20_000, change: 0 }); // the iteration duration
  });

  it("flags the rows that got worse by more than a rule allows, and no other", () => {
    const found = judgeComparison(c, rules("p99=10%", "error_rate=0.5pp", "p50=5ms"));
    // The scenario: 10 of 1,001 → 16 of 802 failed, +1 point.
    expect(found.map((r) => `${r.row} ${r.stat}`).sort()).toEqual(["shop error_rate", "shop/search error_rate", "shop/search p50", "shop/search p99", "total error_rate", "total p99"]);
    const p99 = found.find((r) => r.row === "shop/search" && r.stat === "p99")!;
    expect(p99.worse).toBeCloseTo(40 / 12 - 1); // 12 ms → 40 ms
    expect(found.find((r) => r.row === "shop/search" && r.stat === "p50")!.worse).toBe(27_000); // 3 ms → 30 ms: 27,000 µs more
    expect(found.find((r) => r.row === "shop/search" && r.stat === "error_rate")!.worse).toBeCloseTo(16 / 400 - 10 / 500); // 4% − 2%
    // login's p99 went from 5.0 to 5.4 ms: 8% worse, inside 10%, outside 5%.
    expect(judgeComparison(c, rules("p99=8%")).some((r) => r.row === "shop/login")).toBe(false);
    expect(judgeComparison(c, rules("p99=5%")).some((r) => r.row === "shop/login" && r.stat === "p99")).toBe(true);
    // A fall in throughput or in the check pass rate is worse; a rise would not be.
    expect(judgeComparison(c, rules("rps=15%")).map((r) => r.row)).toEqual(["total", "shop", "shop/login", "shop/search"]);
    // Checks: search 98% → 95% (−3 points); the total and the scenario 990/1000 → 782/802 (−1.5 points).
    expect(judgeComparison(c, rules("checks=2pp")).map((r) => r.row)).toEqual(["shop/search"]);
    expect(judgeComparison(c, rules("checks=1pp")).map((r) => r.row)).toEqual(["total", "shop", "shop/search"]);
    expect(judgeComparison(compareReports(candidate, base), rules("p99=10%", "rps=1%", "error_rate=0pp")).filter((r) => r.row === "shop/search")).toEqual([]);
  });

  it("the same report compared with itself regresses nowhere", () => {
    expect(judgeComparison(compareReports(base, base), rules("p99=0%", "error_rate=0pp", "checks=0pp", "rps=0%", "max=0us"))).toEqual([]);
  });

  it("HTML: both runs, the verdict, and the regressed cells marked", () => {
    const r = rules("p99=10%");
    const html = compareHtml(c, r, judgeComparison(c, r));
    expect(html).toContain('data-verdict="failing"');
    expect(html).toMatch(/<tr data-row="step shop\/search" data-side="change">.*data-regressed="p99"/);
    expect(html).not.toMatch(/<tr data-row="step shop\/login" data-side="change">[^\n]*data-regressed/);
    expect(html).toContain("Only in the base (not compared): step shop/old");
    expect(html).not.toMatch(/<script|<link|src=/);
  });
});

describe("--max-regression rules", () => {
  it("reads relative changes, points and times", () => {
    expect(parseRegressionRule("p99=10%")).toEqual({ text: "p99=10%", stat: "p99", unit: "%", limit: 0.1 });
    expect(parseRegressionRule("error_rate=0.5pp")).toEqual({ text: "error_rate=0.5pp", stat: "error_rate", unit: "pp", limit: 0.005 });
    expect(parseRegressionRule("p99.9 = 5ms")).toEqual({ text: "p99.9 = 5ms", stat: "p99.9", unit: "us", limit: 5000 });
    expect(parseRegressionRule("rps=5%")).toEqual({ text: "rps=5%", stat: "rps", unit: "%", limit: 0.05 });
  });

  it("a bad rule names the problem", () => {
    expect(parseRegressionRule("p98=10%")).toEqual({ error: expect.stringContaining('unknown statistic "p98" (one of requests, rps, error_rate, checks, p50, p90, p99, p99.9, max)') });
    expect(parseRegressionRule("error_rate=1%")).toEqual({ error: expect.stringContaining("error_rate takes percentage points (e.g. error_rate=0.5pp)") });
    expect(parseRegressionRule("p99=3pp")).toEqual({ error: expect.stringContaining('p99 takes a relative change (10%) or a time (5ms, 500us, 1s), not "pp"') });
    expect(parseRegressionRule("rps=5ms")).toEqual({ error: expect.stringContaining('rps takes a relative change (e.g. 10%), not "ms"') });
    expect(parseRegressionRule("p99<10%")).toEqual({ error: expect.stringContaining("is not STAT=LIMIT") });
    expect(parseRegressionRule("p99=-10%")).toEqual({ error: expect.stringContaining("is not STAT=LIMIT") });
    // A name every object inherits is no time unit.
    expect(parseRegressionRule("p99=5constructor")).toEqual({ error: expect.stringContaining('p99 takes a relative change (10%) or a time (5ms, 500us, 1s), not "constructor"') });
  });
});
