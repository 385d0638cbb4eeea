/**
 * TestSpec.thresholds judged by LiveTest (orchestrator/threshold-judge.ts): per step, scenario and
 * check on the whole run, and on sliding windows live. Expected values come from the raw samples
 * the fake driver "measured", recorded into fresh histograms and counted by hand.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestSchema, TestState, Verdict, type Test } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { timestampAt } from "../metrics/stats.js";
import { LiveTest } from "./live-test.js";

const START_MS = 1_764_000_000_000;
const INTERVALS = 6;
/** Intervals in which every login is slow, and how slow (else 2 ms). */
const SLOW = new Map([[2, 300_000]]);

function scenarioTest(thresholds: string[]): Test {
  return create(TestSchema, {
    id: "t1",
    spec: {
      reportIntervalMs: 1000,
      targetUrl: "http://127.0.0.1:1/",
      workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 6000 } } },
      scenarios: [
        { name: "shop", steps: [{ name: "login", url: "/login", checks: [{ name: "has-token" }] }] },
        { name: "browse", steps: [{ name: "search", url: "/search" }] },
      ],
      thresholds,
    },
    state: TestState.RUNNING,
    driverIds: ["a"],
    startAt: timestampAt(START_MS),
  });
}

/** Per interval: 100 logins (slow in SLOW intervals, else 2 ms) and 100 searches of ~5 ms. */
const login = (k: number) => Array.from({ length: 100 }, (_, i) => (SLOW.get(k) ?? 2000) + i);
const search = (k: number) => Array.from({ length: 100 }, (_, i) => 5000 + 10 * k + i);
/** has-token fails twice per interval; one login per interval is answered 500 in intervals 0 and 1. */
const CHECK_FAILED = 2;
const login500 = (k: number) => (k < 2 ? 1 : 0);

const histogramOf = (values: number[]) => {
  const h = createLatencyHistogram();
  for (const v of values) recordUs(h, v);
  return h;
};

/** Driver a's interval `k` message (the last one final), with `fields`. */
function interval(k: number, fields: MessageInitShape<typeof MetricsMessageSchema>): MetricsMessage {
  return create(MetricsMessageSchema, {
    testId: "t1",
    driverId: "a",
    seq: BigInt(k),
    final: k === INTERVALS - 1,
    intervalStart: timestampAt(START_MS + k * 1000),
    intervalEnd: timestampAt(START_MS + (k + 1) * 1000),
    ...fields,
  });
}

function message(k: number): MetricsMessage {
  const ok = (values: number[], failed: number) => ({ ...(values.length - failed > 0 ? { 200: BigInt(values.length - failed) } : {}), ...(failed > 0 ? { 500: BigInt(failed) } : {}) });
  const l = login(k);
  const s = search(k);
  return interval(k, {
    requests: 200n,
    statusCounts: ok([...l, ...s], login500(k)),
    latencyHistogram: encodeHistogram(histogramOf([...l, ...s])),
    steps: [
      { stepIndex: 0, requests: 100n, statusCounts: ok(l, login500(k)), latencyHistogram: encodeHistogram(histogramOf(l)), checks: [{ passed: BigInt(100 - CHECK_FAILED), failed: BigInt(CHECK_FAILED) }] },
      { stepIndex: 1, requests: 100n, statusCounts: ok(s, 0), latencyHistogram: encodeHistogram(histogramOf(s)) },
    ],
  });
}

function run(thresholds: string[]) {
  const live = new LiveTest(scenarioTest(thresholds));
  const breaches: string[] = [];
  live.onBreach = (m) => breaches.push(m);
  for (let k = 0; k < INTERVALS; k++) live.apply(message(k));
  const { report } = live.finish({ state: TestState.COMPLETED, message: "" }, { intervals: [], step: 1 }, START_MS + 7000);
  return { report, breaches, results: report.outcome!.thresholds };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("thresholds judged by the orchestrator", () => {
  it("per step, scenario and check on the whole run: the slow step fails, the others pass, each with its measured value", () => {
    const { report, results } = run(["p99{step:login}<100ms", "p99{step:search}<100ms", "checks{name:has-token}>99%", "error_rate{scenario:shop}<1%", "rps{step:search}>=50", "rps{step:search}>=150"]);
    const allLogin = range(0, INTERVALS - 1).flatMap(login);
    const allSearch = range(0, INTERVALS - 1).flatMap(search);
    expect(results.map((r) => [r.threshold, r.passed])).toEqual([
      ["p99{step:login}<100ms", false],
      ["p99{step:search}<100ms", true],
      ["checks{name:has-token}>99%", false],
      ["error_rate{scenario:shop}<1%", true],
      ["rps{step:search}>=50", true],
      ["rps{step:search}>=150", false],
    ]);
    expect(results[0]!.measured).toBe(histogramOf(allLogin).getValueAtPercentile(99));
    expect(results[0]!.measured).toBeGreaterThan(300_000);
    expect(results[0]!.measured).toBeLessThan(301_000);
    expect(results[0]!.unit).toBe("us");
    expect(results[1]!.measured).toBe(histogramOf(allSearch).getValueAtPercentile(99));
    expect(results[2]!.measured).toBeCloseTo((600 - 6 * CHECK_FAILED) / 600, 12);
    // The shop scenario is the login step: 2 answered 500 of 600.
    expect(results[3]!.measured).toBeCloseTo(2 / 600, 12);
    expect(results[4]!.measured).toBeCloseTo(600 / 6, 9);
    expect(results[4]!.unit).toBe("req/s");
    expect(report.outcome!.verdict).toBe(Verdict.FAILING);
    expect(report.outcome!.reasons).toContain(`threshold p99{step:login}<100ms failed: ${(results[0]!.measured / 1000).toFixed(2)} ms`);
    expect(report.outcome!.reasons.filter((r) => r.startsWith("threshold"))).toHaveLength(3);
  });

  it("a sliding window breached mid-run fails (breached live, the worst window named) while the same bound over the whole run passes", () => {
    const { results, breaches } = run(["p90[2s]<100ms", "p90<100ms"]);
    const [window, whole] = results;
    // Windows over intervals 1–2 and 2–3: a quarter of their requests are 300 ms logins, so p90 is
    // one of them (the same bucket in both; the first worst is kept); over the run it is 1 in 12.
    const worst = histogramOf(range(1, 2).flatMap((k) => [...login(k), ...search(k)])).getValueAtPercentile(90);
    expect(histogramOf(range(2, 3).flatMap((k) => [...login(k), ...search(k)])).getValueAtPercentile(90)).toBe(worst);
    expect(window).toMatchObject({ passed: false, breachedLive: true, windowMs: 2000, windowFromMs: 1000n, windowToMs: 3000n, measured: worst });
    expect(worst).toBeGreaterThan(300_000);
    const all = histogramOf(range(0, INTERVALS - 1).flatMap((k) => [...login(k), ...search(k)])).getValueAtPercentile(90);
    expect(all).toBeLessThan(100_000);
    // The whole run's p90 passes at the end (it was breached so far at interval 2: 1 in 6 slow).
    expect(whole).toMatchObject({ passed: true, breachedLive: true, measured: all, windowMs: 0 });
    // The first breach is the window 1–3 s (intervals 1 and 2: a quarter of its requests slow), told once.
    const first = histogramOf(range(1, 2).flatMap((k) => [...login(k), ...search(k)])).getValueAtPercentile(90);
    expect(breaches).toEqual([`threshold p90[2s]<100ms breached: ${(first / 1000).toFixed(2)} ms over the window 1.0 s–3.0 s`]);
  });

  it("live results: a lower bound on the whole run is not judged before the end; an upper bound breached so far is failed at once", () => {
    const live = new LiveTest(scenarioTest(["p99{step:login}<100ms", "rps{step:search}>=150"]));
    for (let k = 0; k < 4; k++) live.apply(message(k));
    // Intervals 0..2 are emitted (interval 3 waits for the driver to move past it).
    const [login99, rps] = live.test.outcome!.thresholds;
    expect(login99).toMatchObject({ passed: false, breachedLive: true });
    expect(rps).toMatchObject({ passed: true, breachedLive: false });
    expect(live.test.outcome!.verdict).toBe(Verdict.FAILING);
  });

  it("a stalled window (no request at all) fails a lower bound on rps; latency windows skip it", () => {
    const stalled = (k: number) =>
      create(MetricsMessageSchema, { testId: "t1", driverId: "a", seq: BigInt(k), intervalStart: timestampAt(START_MS + k * 1000), intervalEnd: timestampAt(START_MS + (k + 1) * 1000) });
    const live = new LiveTest(scenarioTest(["rps[2s]>=50", "p99[2s]<100ms"]));
    for (let k = 0; k < INTERVALS; k++) live.apply(k === 2 || k === 3 ? stalled(k) : message(k));
    const { report } = live.finish({ state: TestState.COMPLETED, message: "" }, { intervals: [], step: 1 }, START_MS + 7000);
    const [rps, p99] = report.outcome!.thresholds;
    // Intervals 2 and 3 sent nothing: the window 2–4 s holds 0 requests, 0 req/s.
    expect(rps).toMatchObject({ passed: false, breachedLive: true, measured: 0, windowFromMs: 2000n, windowToMs: 4000n });
    // The slow logins were in interval 2, which stalled: every window with requests is fast.
    expect(p99).toMatchObject({ passed: true, breachedLive: false });
  });

  it("a run shorter than its window is judged once, over the whole run", () => {
    const { results } = run(["p99[10s]<100ms", "rps[10s]>=30"]);
    const all = range(0, INTERVALS - 1).flatMap((k) => [...login(k), ...search(k)]);
    expect(results[0]).toMatchObject({ passed: false, breachedLive: false, measured: histogramOf(all).getValueAtPercentile(99), windowFromMs: 0n, windowToMs: 6000n });
    expect(results[1]).toMatchObject({ passed: true });
    expect(results[1]!.measured).toBeCloseTo(1200 / 6, 9);
  });
});

describe("thresholds with a code: selector", () => {
  /** Per interval: 1,000 calls to one RPC; interval 3 has 5 unavailable, interval 4 two deadline_exceeded. */
  const codes = (k: number): Record<string, bigint> => {
    const unavailable = k === 3 ? 5 : 0;
    const deadline = k === 4 ? 2 : 0;
    return { ok: BigInt(1000 - unavailable - deadline), ...(unavailable ? { unavailable: BigInt(unavailable) } : {}), ...(deadline ? { deadline_exceeded: BigInt(deadline) } : {}) };
  };
  const rpcMessage = (k: number) => {
    const c = codes(k);
    const errorCounts = Object.fromEntries(Object.entries(c).filter(([code]) => code !== "ok").map(([code, n]) => [`rpc_${code}`, n]));
    return interval(k, {
      requests: 1000n,
      codeCounts: c,
      errorCounts,
      latencyHistogram: encodeHistogram(histogramOf(Array.from({ length: 1000 }, (_, i) => 1000 + i))),
    });
  };

  it("error_rate{code:X} is that code's share of the requests; requests, rps and errors count the code's calls; windows too", () => {
    const thresholds = ["error_rate{code:unavailable}<0.1%", "requests{code:ok}>=5990", "rps{code:ok}>=998", "errors{code:deadline_exceeded}<1", "error_rate{code:unavailable}[1s]<0.1%", "error_rate<1%"];
    const test = create(TestSchema, { ...scenarioTest(thresholds), spec: { ...scenarioTest(thresholds).spec!, scenarios: [], targetUrl: "http://127.0.0.1:1/x", thresholds } });
    const live = new LiveTest(test);
    const breaches: string[] = [];
    live.onBreach = (m) => breaches.push(m);
    for (let k = 0; k < INTERVALS; k++) live.apply(rpcMessage(k));
    // The live views carry the codes: the last emitted interval's (5, the final one: all ok) and the run's so far.
    expect(live.lastInterval?.codeCounts).toEqual({ ok: 1000n });
    expect(live.cumulativeStats().codeCounts).toEqual({ ok: 5993n, unavailable: 5n, deadline_exceeded: 2n });
    const { report } = live.finish({ state: TestState.COMPLETED, message: "" }, { intervals: [], step: 1 }, START_MS + INTERVALS * 1000);
    const results = report.outcome!.thresholds;
    // 5 unavailable and 2 deadline_exceeded in 6,000 calls.
    expect(results.map((r) => [r.threshold, r.passed])).toEqual([
      ["error_rate{code:unavailable}<0.1%", true],
      ["requests{code:ok}>=5990", true],
      ["rps{code:ok}>=998", true],
      ["errors{code:deadline_exceeded}<1", false],
      ["error_rate{code:unavailable}[1s]<0.1%", false],
      ["error_rate<1%", true],
    ]);
    expect(report.total!.codeCounts).toEqual({ ok: 5993n, unavailable: 5n, deadline_exceeded: 2n });
    expect(report.total!.errors).toBe(7n);
    expect(results[0]!.measured).toBeCloseTo(5 / 6000, 12);
    expect(results[1]!.measured).toBe(5993);
    expect(results[2]!.measured).toBeCloseTo(5993 / 6, 9);
    expect(results[3]!.measured).toBe(2);
    // The window of interval 3: 5 of its 1,000 calls.
    expect(results[4]).toMatchObject({ measured: 5 / 1000, windowFromMs: 3000n, windowToMs: 4000n, breachedLive: true });
    expect(results[5]!.measured).toBeCloseTo(7 / 6000, 12);
    // Breached live at interval 3, so far (5 in 4,000) as well as in its window; the whole run passes at the end.
    // One breach told per interval: interval 3's first, then interval 4's deadline_exceeded.
    expect(breaches).toEqual(["threshold error_rate{code:unavailable}<0.1% breached: 0.13% so far", "threshold errors{code:deadline_exceeded}<1 breached: 2 so far"]);
    expect(results[4]!.breachedLive && results[0]!.breachedLive).toBe(true);
  });
});

