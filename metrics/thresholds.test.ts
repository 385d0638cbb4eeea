import { describe, expect, it } from "vitest";
import type { ScenarioLayout } from "./step-stats.js";
import { checkThresholds, formatValue, judgedLive, parseThreshold, satisfies, unitOf, type Threshold } from "./thresholds.js";

const parsed = (text: string): Threshold => {
  const p = parseThreshold(text);
  if (!("threshold" in p)) throw new Error(p.problems.join("; "));
  return p.threshold;
};
const problems = (text: string): string[] => {
  const p = parseThreshold(text);
  return "problems" in p ? p.problems : [];
};

/** shop: login (checks ok, has-token), cart; browse: search, login (a second step named login). */
const LAYOUT: ScenarioLayout = {
  scenarios: ["shop", "browse"],
  steps: [
    { scenario: "shop", step: "login", checks: ["ok", "has-token"] },
    { scenario: "shop", step: "cart", checks: [] },
    { scenario: "browse", step: "search", checks: ["ok"] },
    { scenario: "browse", step: "login", checks: [] },
  ],
};

describe("thresholds: grammar", () => {
  it("reads units: latency in us/ms/s (ms by default), ratios as % or fraction, counts plain", () => {
    expect(parsed("p99<200ms")).toMatchObject({ metric: "p99", op: "<", limit: 200_000, windowMs: 0, select: {} });
    expect(parsed(" p95 <= 1s ")).toMatchObject({ metric: "p95", op: "<=", limit: 1_000_000 });
    expect(parsed("p99.9<900us")).toMatchObject({ metric: "p99.9", limit: 900 });
    expect(parsed("max<2")).toMatchObject({ limit: 2000 });
    expect(parsed("error_rate<1%")).toMatchObject({ limit: 0.01 });
    expect(parsed("error_rate<0.02")).toMatchObject({ limit: 0.02 });
    expect(parsed("rps>=500")).toMatchObject({ metric: "rps", op: ">=", limit: 500 });
  });

  it("reads selectors and windows", () => {
    expect(parsed("p99{step:login}<300ms")).toMatchObject({ select: { step: "login" }, limit: 300_000 });
    expect(parsed("error_rate{scenario:checkout}<1%")).toMatchObject({ select: { scenario: "checkout" }, limit: 0.01 });
    expect(parsed("checks{name:has-token}>99.9%")).toMatchObject({ metric: "checks", op: ">", select: { name: "has-token" } });
    expect(parsed("checks{name:has-token}>99.9%").limit).toBeCloseTo(0.999, 12);
    expect(parsed("rps{step:search}>=200")).toMatchObject({ select: { step: "search" }, limit: 200 });
    expect(parsed("p99{scenario:shop, step:login}[30s]<200ms")).toMatchObject({ select: { scenario: "shop", step: "login" }, windowMs: 30_000 });
    expect(parsed("p99[500ms]<1s").windowMs).toBe(500);
    expect(parsed("p99[2m]<1s").windowMs).toBe(120_000);
    expect(parsed("error_rate{code:unavailable}<0.1%")).toMatchObject({ metric: "error_rate", select: { code: "unavailable" }, limit: 0.001 });
    expect(parsed("requests{step:call, code:ok}>=10")).toMatchObject({ select: { step: "call", code: "ok" }, limit: 10 });
  });

  it("a code: selector takes a Connect code, on the counting statistics only", () => {
    expect(problems("error_rate{code:UNAVAILABLE}<1%")[0]).toMatch(/code:UNAVAILABLE is not an RPC code \(one of ok, canceled, unknown, invalid_argument, /);
    expect(problems("requests{code:http_503}>1")[0]).toMatch(/code:http_503 is not an RPC code/);
    expect(problems("p99{code:ok}<1s")[0]).toMatch(/code:ok selects RPCs by code; only error_rate, errors, requests, rps take it/);
    expect(problems("checks{code:ok}>1%")[0]).toMatch(/only error_rate, errors, requests, rps take it/);
    expect(problems("errors{code:ok}<1")[0]).toMatch(/code:ok is not an error/);
    expect(problems("errors{code:ok,code:internal}<1")[0]).toMatch(/selector code: is given twice/);
  });

  it("names what it cannot read", () => {
    expect(problems("p99")[0]).toMatch(/is not METRIC\{SELECTOR\}\[WINDOW\] OP VALUE/);
    expect(problems("p42<1ms")[0]).toMatch(/unknown statistic "p42"/);
    expect(problems("latency<1ms")[0]).toMatch(/unknown statistic "latency" \(one of p50, /);
    expect(problems("rps>=5ms")[0]).toMatch(/rps takes a plain number/);
    expect(problems("checks>5ms")[0]).toMatch(/checks takes a fraction \(0.01\) or a percentage/);
    expect(problems("p99{path:/x}<1s")[0]).toMatch(/unknown selector "path:\/x"/);
    expect(problems("p99{step:}<1s")[0]).toMatch(/selector step: names nothing/);
    expect(problems("p99{name:ok}<1s")[0]).toMatch(/only the checks statistic takes it/);
    expect(problems("p99[soon]<1s")[0]).toMatch(/window \[soon\] is not a duration/);
    // Names every object inherits are no statistic and no unit.
    expect(problems("constructor<1")[0]).toMatch(/unknown statistic "constructor"/);
    expect(problems("__proto__<5")[0]).toMatch(/unknown statistic "__proto__"/);
    expect(problems("p99<1constructor")[0]).toMatch(/a latency takes us, ms or s, not "constructor"/);
  });

  it("compares, and says which bounds are final when breached live", () => {
    expect(satisfies(parsed("p99<200ms"), 199_999)).toBe(true);
    expect(satisfies(parsed("p99<200ms"), 200_000)).toBe(false);
    expect(satisfies(parsed("p99<=200ms"), 200_000)).toBe(true);
    expect(satisfies(parsed("rps>=500"), 500)).toBe(true);
    expect(satisfies(parsed("rps>500"), 500)).toBe(false);
    expect(judgedLive(parsed("p99<1s"))).toBe(true);
    expect(judgedLive(parsed("rps>=500"))).toBe(false);
    expect(judgedLive(parsed("rps[10s]>=500"))).toBe(true);
    expect(unitOf(parsed("checks>1%"))).toBe("fraction");
    expect(unitOf(parsed("rps>1"))).toBe("req/s");
    expect(formatValue("us", 180_000)).toBe("180.00 ms");
    expect(formatValue("fraction", 0.005)).toBe("0.50%");
    expect(formatValue("req/s", 512.5)).toBe("512.5");
  });
});

describe("thresholds: against a test", () => {
  it("resolve steps, scenarios and checks to step indices", () => {
    const texts = ["p99{step:cart}<1s", "p99{scenario:browse,step:login}<1s", "error_rate{scenario:shop}<1%", "checks{name:ok}>99%", "checks>99%", "p99<1s"];
    const { thresholds, problems } = checkThresholds(texts, LAYOUT, 1000);
    expect(problems).toEqual([]);
    expect(thresholds.map((t) => t.target)).toEqual([
      { steps: [1], checks: [] },
      { steps: [3], checks: [] },
      { steps: [0, 1], checks: [] },
      { steps: undefined, checks: [[0, 0], [2, 0]] },
      { steps: undefined, checks: [[0, 0], [0, 1], [2, 0]] },
      { steps: undefined, checks: [] },
    ]);
  });

  it("list every problem with its field: unknown step, scenario, check; ambiguous step; short or ragged window", () => {
    const { problems } = checkThresholds(
      ["p99{step:pay}<1s", "error_rate{scenario:checkout}<1%", "checks{name:has-id}>99%", "p99{step:login}<1s", "p99[500ms]<1s", "p99[1500ms]<1s", "p98<1s", "checks{step:cart}>1%"],
      LAYOUT,
      1000,
      "--threshold",
    );
    expect(problems).toEqual([
      { field: "--threshold[0]", problem: `"p99{step:pay}<1s": the test has no step "pay" (steps: "login", "cart", "search")` },
      { field: "--threshold[1]", problem: `"error_rate{scenario:checkout}<1%": the test has no scenario "checkout" (scenarios: "shop", "browse")` },
      { field: "--threshold[2]", problem: `"checks{name:has-id}>99%": the test has no check "has-id" (checks: "ok", "has-token")` },
      { field: "--threshold[3]", problem: `"p99{step:login}<1s": step "login" is in scenarios "shop", "browse": add scenario:NAME` },
      { field: "--threshold[4]", problem: `"p99[500ms]<1s": the window 500 ms is shorter than the report interval (1000 ms)` },
      { field: "--threshold[5]", problem: `"p99[1500ms]<1s": the window 1500 ms is not a whole number of report intervals (1000 ms)` },
      { field: "--threshold[6]", problem: expect.stringMatching(/unknown statistic "p98"/) as unknown as string },
      { field: "--threshold[7]", problem: `"checks{step:cart}>1%": the selected steps have no checks` },
    ]);
  });

  it("a single-request test has no steps to select", () => {
    const { problems } = checkThresholds(["p99{step:login}<1s", "checks>99%", "p99<1s"], { steps: [], scenarios: [] }, 1000);
    expect(problems.map((p) => p.problem)).toEqual([`"p99{step:login}<1s": the test has no step "login" (steps: none)`, `"checks>99%": the test has no checks`]);
  });
});
