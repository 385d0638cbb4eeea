/**
 * Thresholds (TestSpec.thresholds, the CLI's --threshold, a spec file's `thresholds`): their
 * grammar, what they select in a test, and their arithmetic. One copy for the CLI (which checks
 * them before anything runs) and the orchestrator (which refuses them at CreateTest and judges
 * them live and at the end, orchestrator/threshold-judge.ts).
 *
 *   METRIC{KEY:VALUE, …}[WINDOW] OP VALUE[UNIT]
 *   p99{step:login}<300ms   error_rate{scenario:checkout}<1%   checks{name:has-token}>99.9%
 *   rps{step:search}>=200   p99[30s]<200ms   error_rate{code:unavailable}<0.1%   requests{code:ok}>=1000
 */
import { RPC_CODES } from "../rpc/codes.js";

/**
 * The names a threshold can select: a test's steps in order (the step index) and its scenarios.
 * step-stats.ts's ScenarioLayout is one; not imported from there so that this module stays
 * browser-safe (the HTML report formats the results with it).
 */
export interface ThresholdLayout {
  steps: readonly { scenario: string; step: string; checks: readonly string[] }[];
  scenarios: readonly string[];
}

/** What a threshold can measure: its kind sets the unit of its limit. */
const METRICS = {
  p50: { kind: "latency", percentile: 50 },
  p90: { kind: "latency", percentile: 90 },
  p95: { kind: "latency", percentile: 95 },
  p99: { kind: "latency", percentile: 99 },
  "p99.9": { kind: "latency", percentile: 99.9 },
  max: { kind: "latency", percentile: undefined },
  mean: { kind: "latency", percentile: undefined },
  error_rate: { kind: "ratio", percentile: undefined },
  checks: { kind: "ratio", percentile: undefined },
  errors: { kind: "count", percentile: undefined },
  requests: { kind: "count", percentile: undefined },
  rps: { kind: "count", percentile: undefined },
} as const;

/** A statistic a threshold can name. */
export type Metric = keyof typeof METRICS;
/** A threshold's comparison. */
export type Op = "<" | "<=" | ">" | ">=";
/** The unit of a threshold's limit and measured value. */
export type ThresholdUnit = "us" | "fraction" | "count" | "req/s";

/** One pass/fail rule, parsed. */
export interface Threshold {
  /** As written (trimmed). */
  text: string;
  metric: Metric;
  op: Op;
  /** In the metric's base unit: µs for latencies, a fraction for error_rate and checks, a count or req/s. */
  limit: number;
  /**
   * The selector's keys as written (step, scenario, name, code); empty: the whole test. `code`
   * narrows the counts to RPCs that ended with that code: error_rate is its share of the requests,
   * errors, requests and rps count those RPCs.
   */
  select: { step?: string; scenario?: string; name?: string; code?: string };
  /** Sliding window length in ms; 0: the whole run. */
  windowMs: number;
}

/** What a threshold measures in a test: the whole test, or some steps (by index), or some checks. */
export interface ThresholdTarget {
  /** Step indices whose numbers add up; undefined: the test's totals. */
  steps: number[] | undefined;
  /** For `checks`: [step index, check index] of every check counted. */
  checks: [number, number][];
}

/** Most thresholds one test may have, and the longest window. */
export const MAX_THRESHOLDS = 100;
export const MAX_WINDOW_MS = 600_000;

const LATENCY_UNITS: Record<string, number> = { us: 1, µs: 1, ms: 1000, s: 1_000_000 };
const WINDOW_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const FORM = /^\s*([a-z_]+|p\d+(?:\.\d+)?)\s*(\{[^}]*\})?\s*(\[[^\]]*\])?\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*([a-zµ%]*)\s*$/;
const EXAMPLES = "e.g. 'p99<200ms', 'p99{step:login}<300ms', 'error_rate{scenario:checkout}<1%', 'checks{name:has-token}>99.9%', 'p99[30s]<200ms', 'error_rate{code:unavailable}<0.1%'";
/** The statistics a `code:` selector narrows (counts of RPCs; there is no latency per code). */
const CODE_METRICS: ReadonlySet<Metric> = new Set(["error_rate", "errors", "requests", "rps"]);
const SELECTOR_KEYS = ["step", "scenario", "name", "code"] as const;

/** Parses a threshold: the threshold, or every problem with it in words. */
export function parseThreshold(text: string): { threshold: Threshold } | { problems: string[] } {
  const m = FORM.exec(text);
  if (!m) return { problems: [`"${text}" is not METRIC{SELECTOR}[WINDOW] OP VALUE (${EXAMPLES})`] };
  const [, name, braces, brackets, op, num, unit] = m as unknown as [string, string, string | undefined, string | undefined, Op, string, string];
  const problems: string[] = [];
  if (!Object.hasOwn(METRICS, name)) return { problems: [`"${text}": unknown statistic "${name}" (one of ${Object.keys(METRICS).join(", ")})`] };
  const metric = name as Metric;
  const value = Number(num);
  let limit = value;
  switch (METRICS[metric].kind) {
    case "latency": {
      const factor = Object.hasOwn(LATENCY_UNITS, unit || "ms") ? LATENCY_UNITS[unit || "ms"] : undefined;
      if (factor === undefined) problems.push(`"${text}": a latency takes us, ms or s, not "${unit}"`);
      else limit = value * factor;
      break;
    }
    case "ratio":
      if (unit !== "" && unit !== "%") problems.push(`"${text}": ${metric} takes a fraction (0.01) or a percentage (1%), not "${unit}"`);
      else limit = unit === "%" ? value / 100 : value;
      break;
    default:
      if (unit !== "") problems.push(`"${text}": ${metric} takes a plain number, not "${unit}"`);
  }
  const select: Threshold["select"] = {};
  for (const part of braces ? braces.slice(1, -1).split(",") : []) {
    const [key, ...rest] = part.split(":");
    const k = key!.trim();
    const v = rest.join(":").trim();
    if (!isSelectorKey(k)) problems.push(`"${text}": unknown selector "${part.trim()}" (step:NAME, scenario:NAME, name:CHECK, code:RPC_CODE)`);
    else if (v === "") problems.push(`"${text}": selector ${k}: names nothing`);
    else if (select[k] !== undefined) problems.push(`"${text}": selector ${k}: is given twice`);
    else if (k === "code" && !RPC_CODES.includes(v)) problems.push(`"${text}": code:${v} is not an RPC code (one of ${RPC_CODES.join(", ")})`);
    else select[k] = v;
  }
  if (select.name !== undefined && metric !== "checks") problems.push(`"${text}": name:${select.name} selects a check; only the checks statistic takes it`);
  if (select.code !== undefined && !CODE_METRICS.has(metric)) problems.push(`"${text}": code:${select.code} selects RPCs by code; only ${[...CODE_METRICS].join(", ")} take it`);
  else if (select.code === "ok" && metric === "errors") problems.push(`"${text}": code:ok is not an error (requests{code:ok} counts them)`);
  let windowMs = 0;
  if (brackets) {
    const w = /^\[\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)\s*\]$/.exec(brackets);
    if (!w) problems.push(`"${text}": window ${brackets} is not a duration such as [30s], [500ms] or [2m]`);
    else windowMs = Number(w[1]) * WINDOW_UNITS[w[2]!]!;
  }
  return problems.length > 0 ? { problems } : { threshold: { text: text.trim(), metric, op, limit, select, windowMs } };
}

function isSelectorKey(k: string): k is (typeof SELECTOR_KEYS)[number] {
  return (SELECTOR_KEYS as readonly string[]).includes(k);
}

const quoted = (names: Iterable<string>) => {
  const list = [...new Set(names)].map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
};

/**
 * What a parsed threshold measures in a test of `layout`, or what is wrong: a step, scenario or
 * check the test does not have (naming those it has), a step name that two scenarios share
 * without scenario:, a window shorter than (or not a whole number of) report intervals.
 */
export function resolveThreshold(t: Threshold, layout: ThresholdLayout, reportIntervalMs: number): { target: ThresholdTarget } | { problems: string[] } {
  const problems: string[] = [];
  const { step, scenario, name } = t.select;
  let steps: number[] | undefined;
  if (scenario !== undefined && !layout.scenarios.includes(scenario))
    problems.push(`"${t.text}": the test has no scenario "${scenario}" (scenarios: ${quoted(layout.scenarios)})`);
  else if (step !== undefined || scenario !== undefined) {
    const all = layout.steps.map((s, i) => ({ s, i }));
    const inScenario = scenario === undefined ? all : all.filter(({ s }) => s.scenario === scenario);
    const found = step === undefined ? inScenario : inScenario.filter(({ s }) => s.step === step);
    if (found.length === 0)
      problems.push(`"${t.text}": the test has no step "${step}"${scenario === undefined ? "" : ` in scenario "${scenario}"`} (steps: ${quoted(inScenario.map(({ s }) => s.step))})`);
    else if (step !== undefined && scenario === undefined && found.length > 1)
      problems.push(`"${t.text}": step "${step}" is in scenarios ${quoted(found.map(({ s }) => s.scenario))}: add scenario:NAME`);
    else steps = found.map(({ i }) => i);
  }
  const checks: [number, number][] = [];
  if (t.metric === "checks" && problems.length === 0) {
    for (const i of steps ?? layout.steps.map((_, i) => i))
      layout.steps[i]!.checks.forEach((c, k) => {
        if (name === undefined || c === name) checks.push([i, k]);
      });
    if (checks.length === 0)
      problems.push(
        name === undefined
          ? `"${t.text}": the ${steps ? "selected steps have" : "test has"} no checks`
          : `"${t.text}": the test has no check "${name}"${steps ? " in the selected steps" : ""} (checks: ${quoted(layout.steps.flatMap((s) => s.checks))})`,
      );
  }
  if (t.windowMs > 0) {
    if (t.windowMs < reportIntervalMs) problems.push(`"${t.text}": the window ${t.windowMs} ms is shorter than the report interval (${reportIntervalMs} ms)`);
    else if (t.windowMs % reportIntervalMs !== 0) problems.push(`"${t.text}": the window ${t.windowMs} ms is not a whole number of report intervals (${reportIntervalMs} ms)`);
    if (t.windowMs > MAX_WINDOW_MS) problems.push(`"${t.text}": the window ${t.windowMs} ms is longer than the longest allowed (${MAX_WINDOW_MS} ms)`);
  }
  return problems.length > 0 ? { problems } : { target: { steps, checks } };
}

/** A threshold checked against a test: what it measures there. */
export interface ResolvedThreshold extends Threshold {
  target: ThresholdTarget;
}

/**
 * Parses and resolves a test's thresholds: every problem of every one, each with the field it is
 * in (`${field}[i]`), or the resolved thresholds when there is none.
 */
export function checkThresholds(
  texts: readonly string[],
  layout: ThresholdLayout,
  reportIntervalMs: number,
  field = "spec.thresholds",
): { thresholds: ResolvedThreshold[]; problems: { field: string; problem: string }[] } {
  const problems: { field: string; problem: string }[] = [];
  const thresholds: ResolvedThreshold[] = [];
  if (texts.length > MAX_THRESHOLDS) problems.push({ field, problem: `has ${texts.length} thresholds, above the limit of ${MAX_THRESHOLDS}` });
  texts.forEach((text, i) => {
    const parsed = parseThreshold(text);
    const resolved = "threshold" in parsed ? resolveThreshold(parsed.threshold, layout, reportIntervalMs) : parsed;
    if ("problems" in resolved) for (const problem of resolved.problems) problems.push({ field: `${field}[${i}]`, problem });
    else if ("threshold" in parsed) thresholds.push({ ...parsed.threshold, target: resolved.target });
  });
  return { thresholds, problems };
}

/** A threshold's percentile (undefined for max, mean and the non-latency statistics). */
export function percentileOf(t: Threshold): number | undefined {
  return METRICS[t.metric].percentile;
}

/** True when the threshold measures a latency. */
export function isLatency(t: Threshold): boolean {
  return METRICS[t.metric].kind === "latency";
}

/** True when `value` satisfies the threshold. */
export function satisfies(t: Pick<Threshold, "op" | "limit">, value: number): boolean {
  return t.op === "<" ? value < t.limit : t.op === "<=" ? value <= t.limit : t.op === ">" ? value > t.limit : value >= t.limit;
}

/**
 * Whether a threshold is judged live, on the numbers so far: an upper bound on the whole run is
 * (a breach is told as it happens, and --abort-on-fail acts on it, although a so-far p99 or error
 * rate may come back under the bound later: the verdict of a run not aborted is the whole run's);
 * a lower bound on the whole run (`rps>=500`) is judged at the end only. A window is a run of its
 * own: any full window that breaches either bound fails it.
 */
export function judgedLive(t: Threshold): boolean {
  return t.windowMs > 0 || t.op === "<" || t.op === "<=";
}

/** The unit of a threshold's limit and measured value. */
export function unitOf(t: Pick<Threshold, "metric">): ThresholdUnit {
  const kind = METRICS[t.metric].kind;
  return kind === "latency" ? "us" : kind === "ratio" ? "fraction" : t.metric === "rps" ? "req/s" : "count";
}

/** A measured value as the summary prints it: `180.00 ms`, `0.50%`, `512.5`, `1000`. */
export function formatValue(unit: string, v: number): string {
  if (unit === "us") return `${(v / 1000).toFixed(2)} ms`;
  if (unit === "fraction") return `${(v * 100).toFixed(2)}%`;
  return unit === "req/s" ? v.toFixed(1) : String(v);
}
