/**
 * Judging a running test's thresholds (TestSpec.thresholds) on the fleet's exact merged numbers:
 * on the numbers so far and on sliding windows each time an interval is emitted, and on the whole
 * run at the end. A window is the exact merge of its last intervals: counts summed, latency
 * histograms added by bucket (never percentiles averaged). Only what a threshold reads is kept per
 * interval (its selection's counts and a reference to its latency counts), so the cost is a merge
 * of one histogram per window interval and threshold, not of the whole run's.
 */
import { create } from "@bufbuild/protobuf";
import { ThresholdResultSchema, type Outcome, type TestSpec, type ThresholdResult, Verdict } from "../gen/kannon/v1/test_pb.js";
import { Counts } from "../metrics/counts.js";
import { windowSeconds } from "../metrics/stats.js";
import type { RunAccumulator, ScenarioLayout } from "../metrics/step-stats.js";
import { checkThresholds, formatValue, isLatency, judgedLive, percentileOf, satisfies, unitOf, type ResolvedThreshold } from "../metrics/thresholds.js";

/** What a threshold reads of some merged numbers. */
export interface Sample {
  requests: number;
  errors: number;
  passed: number;
  failed: number;
  /** RPCs that ended with the threshold's `code:` (0 without one). */
  code: number;
  /** Latency counts (latency thresholds only); shared, never written to. */
  latency: Counts | undefined;
}

/** The part of `acc` that `t` measures. */
export function sampleOf(acc: RunAccumulator, t: ResolvedThreshold): Sample {
  const s: Sample = { requests: 0, errors: 0, passed: 0, failed: 0, code: 0, latency: undefined };
  const latency = isLatency(t);
  const { code } = t.select;
  if (t.target.steps === undefined) {
    s.requests = acc.total.requests;
    s.errors = acc.total.errors;
    if (code !== undefined) s.code = acc.total.codeCounts.get(code) ?? 0;
    if (latency) s.latency = acc.total.latency;
  } else {
    const parts = t.target.steps.map((i) => acc.stepTotals(i)).filter((p) => p !== undefined);
    for (const p of parts) {
      s.requests += p.requests.requests;
      s.errors += p.requests.errors;
      if (code !== undefined) s.code += p.requests.codeCounts.get(code) ?? 0;
    }
    if (latency) s.latency = parts.length === 1 ? parts[0]!.requests.latency : mergeCounts(parts.map((p) => p.requests.latency));
  }
  for (const [i, k] of t.target.checks) {
    const p = acc.stepTotals(i);
    s.passed += p?.passed[k] ?? 0;
    s.failed += p?.failed[k] ?? 0;
  }
  return s;
}

function mergeCounts(all: readonly (Counts | undefined)[]): Counts {
  const c = new Counts();
  for (const x of all) if (x) c.addCounts(x);
  return c;
}

/** Samples added up exactly. */
export function mergeSamples(samples: readonly Sample[]): Sample {
  const s: Sample = { requests: 0, errors: 0, passed: 0, failed: 0, code: 0, latency: undefined };
  for (const x of samples) {
    s.requests += x.requests;
    s.errors += x.errors;
    s.code += x.code;
    s.passed += x.passed;
    s.failed += x.failed;
  }
  if (samples.some((x) => x.latency)) s.latency = mergeCounts(samples.map((x) => x.latency));
  return s;
}

/** The statistics that are counts, judged on an empty window too. */
const COUNT_METRICS: ReadonlySet<string> = new Set(["errors", "requests", "rps"]);

/**
 * The value `t` measures on a sample taken over `seconds` (for rps), in its unit. With `code:`,
 * error_rate is that code's share of the requests, and errors, requests and rps count its RPCs.
 */
export function measureSample(t: ResolvedThreshold, s: Sample, seconds: number): number {
  const coded = t.select.code !== undefined;
  const counted = coded ? s.code : s.requests;
  switch (t.metric) {
    case "error_rate":
      return s.requests > 0 ? (coded ? s.code : s.errors) / s.requests : 0;
    case "checks":
      return s.passed + s.failed > 0 ? s.passed / (s.passed + s.failed) : 0;
    case "errors":
      return coded ? s.code : s.errors;
    case "requests":
      return counted;
    case "rps":
      return seconds > 0 ? counted / seconds : 0;
    default: {
      if (!s.latency || s.latency.total === 0) return 0;
      const p = percentileOf(t);
      const sum = s.latency.summarize(p === undefined ? [] : [p]);
      return p !== undefined ? sum.at[0]! : t.metric === "max" ? sum.max : sum.mean;
    }
  }
}

/** A judged window: its value and where it lies (ms from the start instant). */
interface Judged {
  value: number;
  fromMs: number;
  toMs: number;
}

interface State {
  t: ResolvedThreshold;
  /** Window thresholds: the last intervals' samples, oldest first. */
  ring: Sample[];
  size: number;
  /** Intervals seen (a run shorter than the window is judged once over all of them). */
  seen: number;
  firstInterval: number;
  breach: Judged | undefined;
  worst: Judged | undefined;
  /** An upper bound on the whole run: its value on the numbers so far, as last judged. */
  sofar: number | undefined;
}

/** The judge of one running test's thresholds. */
export class ThresholdJudge {
  private readonly states: State[];

  constructor(
    spec: TestSpec,
    layout: ScenarioLayout,
    private readonly intervalMs: number,
  ) {
    // Validated at CreateTest; a stored threshold this version cannot read is left unjudged.
    const { thresholds } = checkThresholds(spec.thresholds, layout, intervalMs);
    this.states = thresholds.map((t) => ({ t, ring: [], size: Math.max(1, t.windowMs / intervalMs), seen: 0, firstInterval: 0, breach: undefined, worst: undefined, sofar: undefined }));
  }

  /** True when the test has thresholds to judge. */
  get any(): boolean {
    return this.states.length > 0;
  }

  /**
   * Judges interval `k` (merged in `acc`, ending at `endMs`) once `cumulative` includes it: every
   * full window, and upper bounds on the numbers so far. Returns the first breach's description
   * (for --abort-on-fail) when one happened now.
   */
  interval(k: number, acc: RunAccumulator, cumulative: RunAccumulator, startAtMs: number, endMs: number): string | undefined {
    let news: string | undefined;
    for (const st of this.states) {
      const { t } = st;
      if (st.seen === 0) st.firstInterval = k;
      st.seen++;
      let judged: Judged | undefined;
      if (t.windowMs > 0) {
        st.ring.push(sampleOf(acc, t));
        if (st.ring.length > st.size) st.ring.shift();
        if (st.ring.length < st.size) continue;
        const s = mergeSamples(st.ring);
        // A window without a request has no latency or rate to judge, but its counts (0) are what
        // a lower bound on rps, requests or errors is there to catch: a stalled fleet.
        if (s.requests === 0 && !COUNT_METRICS.has(t.metric)) continue;
        const from = startAtMs + (k - st.size + 1) * this.intervalMs;
        judged = { value: measureSample(t, s, windowSeconds(from, endMs)), fromMs: from - startAtMs, toMs: endMs - startAtMs };
      } else if (judgedLive(t)) {
        const s = sampleOf(cumulative, t);
        if (s.requests === 0) continue;
        judged = { value: measureSample(t, s, windowSeconds(startAtMs, endMs)), fromMs: 0, toMs: endMs - startAtMs };
        st.sofar = judged.value;
      } else continue;
      if (t.windowMs > 0 && (!st.worst || worse(t, judged.value, st.worst.value))) st.worst = judged;
      if (!st.breach && !satisfies(t, judged.value)) {
        st.breach = judged;
        news ??= breachText(t, judged);
      }
    }
    return news;
  }

  /**
   * Every threshold's result: live (the numbers so far; a lower bound on the whole run passes until
   * the end) or `final` (the whole run, `cumulative` ending at `endMs`). `aborted`: the run was cut
   * short by a breach, which fails the breached thresholds whatever the cut-short totals say.
   */
  results(cumulative: RunAccumulator, startAtMs: number, endMs: number, final: boolean, aborted: boolean): ThresholdResult[] {
    return this.states.map((st) => {
      const { t } = st;
      const base = { threshold: t.text, unit: unitOf(t), limit: t.limit, breachedLive: st.breach !== undefined };
      if (t.windowMs > 0) {
        let shown = st.breach && aborted ? st.breach : st.worst;
        // A run shorter than its window: judged once, over the whole run.
        if (final && !shown && st.seen > 0 && st.seen < st.size) {
          const s = mergeSamples(st.ring);
          shown = { value: measureSample(t, s, windowSeconds(startAtMs, endMs)), fromMs: 0, toMs: endMs - startAtMs };
        }
        const passed = st.breach === undefined && (!shown || satisfies(t, shown.value));
        return create(ThresholdResultSchema, { ...base, passed, measured: shown?.value ?? 0, windowMs: t.windowMs, windowFromMs: BigInt(Math.round(shown?.fromMs ?? 0)), windowToMs: BigInt(Math.round(shown?.toMs ?? 0)) });
      }
      // Live, an upper bound's value was just judged on these numbers: not measured twice.
      const measured = !final && st.sofar !== undefined ? st.sofar : measureSample(t, sampleOf(cumulative, t), windowSeconds(startAtMs, endMs));
      const passed = final ? satisfies(t, measured) && !(aborted && st.breach) : !st.breach;
      return create(ThresholdResultSchema, { ...base, passed, measured });
    });
  }
}

function worse(t: ResolvedThreshold, a: number, b: number): boolean {
  return t.op === "<" || t.op === "<=" ? a > b : a < b;
}

/** Seconds with one decimal. */
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function breachText(t: ResolvedThreshold, j: Judged): string {
  const value = formatValue(unitOf(t), j.value);
  return t.windowMs > 0 ? `threshold ${t.text} breached: ${value} over the window ${sec(j.fromMs)}–${sec(j.toMs)}` : `threshold ${t.text} breached: ${value} so far`;
}

/** What a result says in an outcome's reasons. */
export function resultText(r: ThresholdResult): string {
  const value = formatValue(r.unit, r.measured);
  const where = r.windowMs > 0 ? ` over the window ${sec(Number(r.windowFromMs))}–${sec(Number(r.windowToMs))}` : "";
  return `threshold ${r.threshold} failed: ${value}${where}`;
}

/** An outcome with its thresholds' results: failing, with a reason each, when one failed. */
export function withThresholds(outcome: Outcome, results: ThresholdResult[]): Outcome {
  outcome.thresholds = results;
  const failed = results.filter((r) => !r.passed);
  if (failed.length > 0) {
    outcome.verdict = Verdict.FAILING;
    outcome.reasons.push(...failed.map(resultText));
  }
  return outcome;
}
