/**
 * Two runs side by side (`kannon compare BASE CANDIDATE`): the total, each scenario and each step
 * matched by name, every statistic with its change, and the `--max-regression` rules that turn the
 * changes into a verdict. Reads the reports' cumulative numbers only (Report.total), never the
 * intervals. Browser-safe (no DOM, no Node), so the dashboard can use it too.
 */
import type { LatencyStats, Report, Stats, StepStats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";

/** The statistics compared, in the order they are shown. */
export const COMPARE_STATS = ["requests", "rps", "error_rate", "checks", "p50", "p90", "p99", "p99.9", "max"] as const;
/** One compared statistic. */
export type CompareStat = (typeof COMPARE_STATS)[number];

/**
 * How each statistic is measured and which way is worse: a count or rate (worse when it falls),
 * a fraction (error rate: worse up; check pass rate: worse down) or a latency in µs (worse up).
 */
export const STAT_KINDS: Record<CompareStat, { kind: "count" | "fraction" | "latency"; worse: "up" | "down"; label: string }> = {
  requests: { kind: "count", worse: "down", label: "requests" },
  rps: { kind: "count", worse: "down", label: "req/s" },
  error_rate: { kind: "fraction", worse: "up", label: "error rate" },
  checks: { kind: "fraction", worse: "down", label: "checks passed" },
  p50: { kind: "latency", worse: "up", label: "p50" },
  p90: { kind: "latency", worse: "up", label: "p90" },
  p99: { kind: "latency", worse: "up", label: "p99" },
  "p99.9": { kind: "latency", worse: "up", label: "p99.9" },
  max: { kind: "latency", worse: "up", label: "max" },
};

/** One statistic in both runs: undefined where a run did not measure it (no checks, no succeeded request). */
export interface StatChange {
  stat: CompareStat;
  base: number | undefined;
  candidate: number | undefined;
  /**
   * candidate − base: for fractions in fraction points (0.005 = 0.5pp), otherwise relative to the
   * base (0.1 = +10 %; ±Infinity from a base of 0). Undefined unless both runs measured it.
   */
  change: number | undefined;
}

/** A compared row: the total, a scenario (its steps' requests, its iteration duration) or a step. */
export interface CompareRow {
  kind: "total" | "scenario" | "step";
  /** "total", the scenario's name, or "scenario/step". */
  name: string;
  changes: StatChange[];
}

/** Which run a side is. */
export interface RunRef {
  testId: string;
  name: string;
  state: string;
}

/** Two runs compared. */
export interface Comparison {
  base: RunRef;
  candidate: RunRef;
  rows: CompareRow[];
  /** Scenarios and steps only one of the runs has ("scenario NAME", "step SCENARIO/STEP"): listed, not compared. */
  onlyInBase: string[];
  onlyInCandidate: string[];
}

const sampled = (l: LatencyStats | undefined) => (l && l.count > 0n ? l : undefined);

/** The statistics of some requests (and the checks they ran); latency from `latency`. */
function valuesOf(requests: bigint, rps: number, errors: bigint, passed: bigint, failed: bigint, latency: LatencyStats | undefined): Record<CompareStat, number | undefined> {
  const l = sampled(latency);
  return {
    requests: Number(requests),
    rps,
    error_rate: requests > 0n ? Number(errors) / Number(requests) : undefined,
    checks: passed + failed > 0n ? Number(passed) / Number(passed + failed) : undefined,
    p50: l && Number(l.p50Us),
    p90: l && Number(l.p90Us),
    p99: l && Number(l.p99Us),
    "p99.9": l && Number(l.p999Us),
    max: l && Number(l.maxUs),
  };
}

const sum = <T>(xs: readonly T[], f: (x: T) => bigint) => xs.reduce((n, x) => n + f(x), 0n);
const checksOf = (steps: readonly StepStats[], k: "passed" | "failed") => sum(steps, (st) => sum(st.checks, (c) => c[k]));

/** One run's row: its kind, its name, its statistics. */
interface RunRow {
  kind: CompareRow["kind"];
  name: string;
  values: Record<CompareStat, number | undefined>;
}

/**
 * The rows of one run, keyed "total", "scenario NAME" and "step SCENARIO/STEP" (a repeated name
 * gets " #2", …): a scenario's requests, errors and checks are its steps' and its latency is its
 * iteration duration (think time excluded).
 */
export function rowValues(total: Stats | undefined): Map<string, RunRow> {
  const rows = new Map<string, RunRow>();
  const t = total;
  const steps = t?.steps ?? [];
  rows.set("total", { kind: "total", name: "total", values: valuesOf(t?.requests ?? 0n, t?.requestsPerS ?? 0, t?.errors ?? 0n, checksOf(steps, "passed"), checksOf(steps, "failed"), t?.latency) });
  const add = (kind: "scenario" | "step", name: string, values: RunRow["values"]) => {
    let unique = name;
    for (let n = 2; rows.has(`${kind} ${unique}`); n++) unique = `${name} #${n}`;
    rows.set(`${kind} ${unique}`, { kind, name: unique, values });
  };
  for (const sc of t?.scenarios ?? []) {
    const own = steps.filter((st) => st.scenario === sc.scenario);
    const rps = own.reduce((r, st) => r + (st.stats?.requestsPerS ?? 0), 0);
    const values = valuesOf(sum(own, (st) => st.stats?.requests ?? 0n), rps, sum(own, (st) => st.stats?.errors ?? 0n), checksOf(own, "passed"), checksOf(own, "failed"), sc.iterationDuration);
    add("scenario", sc.scenario, values);
  }
  for (const st of steps) {
    const s = st.stats;
    const values = valuesOf(s?.requests ?? 0n, s?.requestsPerS ?? 0, s?.errors ?? 0n, checksOf([st], "passed"), checksOf([st], "failed"), s?.latency);
    add("step", `${st.scenario}/${st.step}`, values);
  }
  return rows;
}

/** The change of one statistic (see {@link StatChange.change}). */
export function changeOf(stat: CompareStat, base: number | undefined, candidate: number | undefined): number | undefined {
  if (base === undefined || candidate === undefined) return undefined;
  if (STAT_KINDS[stat].kind === "fraction") return candidate - base;
  if (base === 0) return candidate === 0 ? 0 : candidate > 0 ? Infinity : -Infinity;
  return (candidate - base) / base;
}

const refOf = (r: Report): RunRef => ({ testId: r.testId, name: r.spec?.name ?? "", state: TestState[r.state] ?? "" });

/** Compares two reports' totals, scenarios and steps (matched by name); the others are listed as only in one run. */
export function compareReports(base: Report, candidate: Report): Comparison {
  const a = rowValues(base.total);
  const b = rowValues(candidate.total);
  const rows: CompareRow[] = [];
  for (const [key, row] of a) {
    const other = b.get(key);
    if (!other) continue;
    rows.push({ kind: row.kind, name: row.name, changes: COMPARE_STATS.map((stat) => ({ stat, base: row.values[stat], candidate: other.values[stat], change: changeOf(stat, row.values[stat], other.values[stat]) })) });
  }
  return {
    base: refOf(base),
    candidate: refOf(candidate),
    rows,
    onlyInBase: [...a.keys()].filter((k) => !b.has(k)),
    onlyInCandidate: [...b.keys()].filter((k) => !a.has(k)),
  };
}

/** One `--max-regression` rule: how much a statistic may get worse. */
export interface RegressionRule {
  /** As written. */
  text: string;
  stat: CompareStat;
  /** "%": relative to the base; "pp": fraction points (error_rate, checks); "us": a latency's absolute growth. */
  unit: "%" | "pp" | "us";
  /** A fraction for "%" and "pp" (10% → 0.1, 0.5pp → 0.005), µs for "us". */
  limit: number;
}

const RULE = /^\s*([a-z_]+|p\d+(?:\.\d+)?)\s*=\s*([0-9]*\.?[0-9]+)\s*([a-zµ%]*)\s*$/;
const TIME_UNITS: Record<string, number> = { us: 1, µs: 1, ms: 1000, s: 1_000_000 };

/** Parses a `--max-regression` rule (`p99=10%`, `error_rate=0.5pp`, `p99=5ms`, `rps=5%`); the error names what is wrong. */
export function parseRegressionRule(text: string): RegressionRule | { error: string } {
  const m = RULE.exec(text);
  const what = `--max-regression "${text}"`;
  if (!m) return { error: `${what} is not STAT=LIMIT (e.g. 'p99=10%', 'error_rate=0.5pp', 'p99=5ms')` };
  const [, name, num, unit] = m as unknown as [string, string, string, string];
  if (!(COMPARE_STATS as readonly string[]).includes(name)) return { error: `${what}: unknown statistic "${name}" (one of ${COMPARE_STATS.join(", ")})` };
  const stat = name as CompareStat;
  const value = Number(num);
  const kind = STAT_KINDS[stat].kind;
  if (kind === "fraction") {
    if (unit !== "pp") return { error: `${what}: ${stat} takes percentage points (e.g. ${stat}=0.5pp), not "${unit || "a plain number"}": a change relative to a rate of 0 has no size` };
    return { text: text.trim(), stat, unit: "pp", limit: value / 100 };
  }
  if (unit === "%") return { text: text.trim(), stat, unit: "%", limit: value / 100 };
  if (kind === "latency" && Object.hasOwn(TIME_UNITS, unit)) return { text: text.trim(), stat, unit: "us", limit: value * TIME_UNITS[unit]! };
  const takes = kind === "latency" ? "a relative change (10%) or a time (5ms, 500us, 1s)" : "a relative change (e.g. 10%)";
  return { error: `${what}: ${stat} takes ${takes}, not "${unit || "a plain number"}"` };
}

/** A statistic of a row that got worse by more than a rule allows. */
export interface Regression {
  kind: CompareRow["kind"];
  row: string;
  stat: CompareStat;
  base: number;
  candidate: number;
  /** How much worse, in the rule's unit (a fraction for % and pp, µs for a time). */
  worse: number;
  rule: string;
}

/** How much worse the candidate is than the base in `rule`'s unit (negative: better); undefined when one run did not measure it. */
export function worsening(rule: RegressionRule, c: StatChange): number | undefined {
  if (c.base === undefined || c.candidate === undefined) return undefined;
  const sign = STAT_KINDS[rule.stat].worse === "up" ? 1 : -1;
  const diff = sign * (c.candidate - c.base);
  if (rule.unit === "us") return diff;
  if (rule.unit === "pp") return diff;
  return c.base === 0 ? (diff > 0 ? Infinity : 0) : diff / c.base;
}

/** Every row's statistic that got worse by more than its rules allow (strictly more: a limit reached exactly passes). */
export function judgeComparison(c: Comparison, rules: readonly RegressionRule[]): Regression[] {
  const out: Regression[] = [];
  for (const row of c.rows)
    for (const rule of rules) {
      const change = row.changes.find((x) => x.stat === rule.stat)!;
      const worse = worsening(rule, change);
      if (worse !== undefined && worse > rule.limit + 1e-12) out.push({ kind: row.kind, row: row.name, stat: rule.stat, base: change.base!, candidate: change.candidate!, worse, rule: rule.text });
    }
  return out;
}

/** A statistic's value as shown: a count, req/s, a percentage, or ms. */
export function statText(stat: CompareStat, v: number | undefined): string {
  if (v === undefined) return "—";
  const kind = STAT_KINDS[stat].kind;
  if (kind === "fraction") return `${(v * 100).toFixed(2)}%`;
  if (kind === "latency") return `${(v / 1000).toFixed(2)} ms`;
  return stat === "rps" ? v.toFixed(1) : String(v);
}

/** A change as shown: "+12.3%", "−0.50pp", "+∞%", "—" when not both measured. */
export function changeText(stat: CompareStat, change: number | undefined): string {
  if (change === undefined) return "—";
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  const size = Math.abs(change);
  if (STAT_KINDS[stat].kind === "fraction") return `${sign}${(size * 100).toFixed(2)}pp`;
  return `${sign}${size === Infinity ? "∞" : (size * 100).toFixed(1)}%`;
}

/** How much worse a regression is, in its rule's unit: "+1442.9%", "+2.00pp", "+31.40 ms". */
export function worseText(r: Regression, unit: RegressionRule["unit"]): string {
  if (unit === "us") return `+${(r.worse / 1000).toFixed(2)} ms`;
  if (unit === "pp") return `+${(r.worse * 100).toFixed(2)}pp`;
  return r.worse === Infinity ? "+∞%" : `+${(r.worse * 100).toFixed(1)}%`;
}

/** One line per regression: `step shopper/search p99: 2.10 ms → 32.40 ms, +1442.9% worse (limit p99=10%)`. */
export function regressionLines(regressions: readonly Regression[], rules: readonly RegressionRule[]): string[] {
  return regressions.map((r) => {
    const rule = rules.find((x) => x.text === r.rule)!;
    const where = r.kind === "total" ? "total" : `${r.kind} ${r.row}`;
    return `${where} ${STAT_KINDS[r.stat].label}: ${statText(r.stat, r.base)} → ${statText(r.stat, r.candidate)}, ${worseText(r, rule.unit)} worse (limit ${r.rule})`;
  });
}
