/**
 * A scenario test's numbers per step and per scenario (issue 20), merged exactly as the totals
 * are: counts summed, histograms added by bucket, never averaged. {@link RunAccumulator} is what
 * the orchestrator merges a run with: the totals (a {@link MetricsAccumulator}) and, for a scenario
 * test, Stats.steps and Stats.scenarios beside them. A single-request test has no rows.
 */
import { create } from "@bufbuild/protobuf";
import type { MetricsMessage, ScenarioMetrics, StepMetrics } from "../gen/kannon/v1/bus_pb.js";
import { ScenarioStatsSchema, StepStatsSchema, type Stats, type StepStats } from "../gen/kannon/v1/report_pb.js";
import { CheckCountsSchema } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { Counts, decodeCounts, type SparseCounts } from "./counts.js";
import { countsStats, decodeMetrics, MetricsAccumulator, windowSeconds, type DecodedHistograms } from "./stats.js";

/** A step's names, from the spec (StepStats carries them so a reader need not look them up). */
export interface StepName {
  scenario: string;
  step: string;
  /** Check.name of each of the step's checks, in order. */
  checks: readonly string[];
}

/** A test's steps flattened in order (the step index, see scenario.proto) and its scenarios' names. */
export interface ScenarioLayout {
  steps: readonly StepName[];
  scenarios: readonly string[];
}

/** The layout of a single-request test: no steps, no scenarios, no rows. */
export const SINGLE_REQUEST: ScenarioLayout = { steps: [], scenarios: [] };

/** The layout of a spec's scenarios (SINGLE_REQUEST when it has none). */
export function scenarioLayout(spec: TestSpec | undefined): ScenarioLayout {
  if (!spec || spec.scenarios.length === 0) return SINGLE_REQUEST;
  return {
    steps: spec.scenarios.flatMap((s) => s.steps.map((st) => ({ scenario: s.name, step: st.name, checks: st.checks.map((c) => c.name) }))),
    scenarios: spec.scenarios.map((s) => s.name),
  };
}

/** A metrics message's histograms, decoded once: the totals', and each step's and scenario's. */
export interface DecodedRun {
  total: DecodedHistograms;
  steps: { m: StepMetrics; h: DecodedHistograms }[];
  scenarios: { m: ScenarioMetrics; iterations: SparseCounts | undefined }[];
}

/**
 * Decodes a metrics message for a test of `layout`. Throws, naming the problem, when a histogram
 * does not decode or a block does not fit the test (a step or scenario it does not have, more
 * check counts than the step has checks, steps in a single-request test).
 */
export function decodeRun(m: MetricsMessage, layout: ScenarioLayout): DecodedRun {
  for (const s of m.steps) {
    const name = layout.steps[s.stepIndex];
    if (!name) throw new Error(`step_index ${s.stepIndex} is beyond the test's ${layout.steps.length} steps`);
    if (s.checks.length > name.checks.length) throw new Error(`step ${s.stepIndex} carries ${s.checks.length} check counts, and has ${name.checks.length} checks`);
  }
  for (const s of m.scenarios)
    if (s.scenarioIndex >= layout.scenarios.length) throw new Error(`scenario_index ${s.scenarioIndex} is beyond the test's ${layout.scenarios.length} scenarios`);
  return {
    total: decodeMetrics(m),
    steps: m.steps.map((s) => ({ m: s, h: decodeMetrics(s) })),
    scenarios: m.scenarios.map((s) => ({ m: s, iterations: s.iterationHistogram.length > 0 ? decodeCounts(s.iterationHistogram) : undefined })),
  };
}

/** One step's merged numbers besides its requests' (which a MetricsAccumulator holds). */
class StepTotals {
  readonly requests = new MetricsAccumulator();
  readonly passed: number[];
  readonly failed: number[];
  captureMissing = 0;
  abortedIterations = 0;
  constructor(checks: number) {
    this.passed = new Array<number>(checks).fill(0);
    this.failed = new Array<number>(checks).fill(0);
  }
  addChecks(checks: readonly { passed: bigint; failed: bigint }[]): void {
    checks.forEach((c, k) => {
      if (k >= this.passed.length) return; // a stored step of another layout: not merged into names it lacks
      this.passed[k]! += Number(c.passed);
      this.failed[k]! += Number(c.failed);
    });
  }
}

/** One scenario's merged iterations. */
class ScenarioTotals {
  iterations = 0;
  aborted = 0;
  readonly duration = new Counts();
}

/** What {@link RunAccumulator.toStats} is asked for. */
export interface RunStatsOptions {
  /** Embed the encoded histograms (cumulative views and stored intervals). */
  withHistogram?: boolean;
  interval?: number;
  /** The window rates are computed over (default: the earliest start and latest end seen). */
  startMs?: number;
  endMs?: number;
  /** List every step and scenario of the test (cumulative views), not only those that counted something. */
  every?: boolean;
}

/** The enclosing Stats' window and interval, which its steps share. */
interface Window {
  interval: number;
  startMs: number;
  endMs: number;
}

/**
 * A run's merged numbers: the totals and, for a scenario test, per step and per scenario. Applying
 * is not idempotent by itself; callers deduplicate on (driver, seq).
 */
export class RunAccumulator {
  readonly total = new MetricsAccumulator();
  private readonly steps = new Map<number, StepTotals>();
  private readonly scenarios = new Map<number, ScenarioTotals>();

  constructor(readonly layout: ScenarioLayout = SINGLE_REQUEST) {}

  /** Adds one driver interval decoded by {@link decodeRun} (decode once, add many times). */
  addDecoded(m: MetricsMessage, d: DecodedRun): void {
    this.total.addDecoded(m, d.total);
    for (const { m: s, h } of d.steps) {
      const t = this.step(s.stepIndex);
      t.requests.addDecoded(s, h);
      t.addChecks(s.checks);
      t.captureMissing += Number(s.captureMissing);
      t.abortedIterations += Number(s.abortedIterations);
    }
    for (const { m: s, iterations } of d.scenarios) {
      const t = this.scenario(s.scenarioIndex);
      t.iterations += Number(s.iterations);
      t.aborted += Number(s.aborted);
      if (iterations) t.duration.addSparse(iterations);
    }
  }

  /** Adds merged numbers with their histograms embedded (a stored interval); exact. */
  addStats(s: Stats): void {
    this.total.addStats(s);
    for (const st of s.steps) {
      const t = this.step(st.stepIndex);
      if (st.stats) t.requests.addStats(st.stats);
      t.addChecks(st.checks);
      t.captureMissing += Number(st.captureMissing);
      t.abortedIterations += Number(st.abortedIterations);
    }
    for (const sc of s.scenarios) {
      const t = this.scenario(sc.scenarioIndex);
      t.iterations += Number(sc.iterations);
      t.aborted += Number(sc.aborted);
      const h = sc.iterationDuration?.histogram;
      if (h && h.length > 0) t.duration.addSparse(decodeCounts(h));
    }
  }

  /** Adds another run accumulator (of the same test). */
  addAll(other: RunAccumulator): void {
    this.total.addAll(other.total);
    for (const [i, o] of other.steps) {
      const t = this.step(i);
      t.requests.addAll(o.requests);
      o.passed.forEach((v, k) => (t.passed[k]! += v));
      o.failed.forEach((v, k) => (t.failed[k]! += v));
      t.captureMissing += o.captureMissing;
      t.abortedIterations += o.abortedIterations;
    }
    for (const [i, o] of other.scenarios) {
      const t = this.scenario(i);
      t.iterations += o.iterations;
      t.aborted += o.aborted;
      t.duration.addCounts(o.duration);
    }
  }

  /**
   * The merged numbers as Stats: the totals, and for a scenario test its steps (in ascending step
   * index, each with the enclosing window and interval) and scenarios (in spec order): every one
   * with `every`, else those that counted something.
   */
  toStats(options: RunStatsOptions = {}): Stats {
    const stats = this.total.toStats(options);
    if (this.layout.steps.length === 0) return stats;
    const window: Window = { interval: options.interval ?? 0, startMs: options.startMs ?? this.total.startMs, endMs: options.endMs ?? this.total.endMs };
    const seconds = windowSeconds(window.startMs, window.endMs);
    const withHistogram = options.withHistogram ?? false;
    const indices = (n: number, have: Map<number, unknown>) => (options.every ? [...Array(n).keys()] : [...have.keys()].sort((a, b) => a - b));
    stats.steps = indices(this.layout.steps.length, this.steps).map((i) => this.stepStats(i, window, withHistogram));
    stats.scenarios = indices(this.layout.scenarios.length, this.scenarios).map((i) => {
      const t = this.scenarios.get(i) ?? new ScenarioTotals();
      return create(ScenarioStatsSchema, {
        scenarioIndex: i,
        scenario: this.layout.scenarios[i] ?? "",
        iterations: BigInt(t.iterations),
        aborted: BigInt(t.aborted),
        iterationsPerS: seconds > 0 ? t.iterations / seconds : 0,
        iterationDuration: countsStats(t.duration, withHistogram),
      });
    });
    return stats;
  }

  /** Step `i`'s merged requests and check counts; undefined when it counted nothing. */
  stepTotals(i: number): { readonly requests: MetricsAccumulator; readonly passed: readonly number[]; readonly failed: readonly number[] } | undefined {
    return this.steps.get(i);
  }

  private stepStats(i: number, window: Window, withHistogram: boolean): StepStats {
    const name = this.layout.steps[i];
    const t = this.steps.get(i) ?? new StepTotals(name?.checks.length ?? 0);
    return create(StepStatsSchema, {
      stepIndex: i,
      scenario: name?.scenario ?? "",
      step: name?.step ?? "",
      stats: t.requests.toStats({ withHistogram, ...window }),
      checks: t.passed.map((passed, k) => create(CheckCountsSchema, { name: name?.checks[k] ?? "", passed: BigInt(passed), failed: BigInt(t.failed[k]!) })),
      captureMissing: BigInt(t.captureMissing),
      abortedIterations: BigInt(t.abortedIterations),
    });
  }

  private step(i: number): StepTotals {
    let t = this.steps.get(i);
    if (!t) this.steps.set(i, (t = new StepTotals(this.layout.steps[i]?.checks.length ?? 0)));
    return t;
  }

  private scenario(i: number): ScenarioTotals {
    let t = this.scenarios.get(i);
    if (!t) this.scenarios.set(i, (t = new ScenarioTotals()));
    return t;
  }
}
