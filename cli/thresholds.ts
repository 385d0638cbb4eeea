import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { UsageError } from "./args.js";

/** What a threshold can measure on the fleet's merged numbers. */
const METRICS = {
  p50: { kind: "latency", pick: (s: Stats) => s.latency?.p50Us },
  p90: { kind: "latency", pick: (s: Stats) => s.latency?.p90Us },
  p95: { kind: "latency", pick: (s: Stats) => s.latency?.p95Us },
  p99: { kind: "latency", pick: (s: Stats) => s.latency?.p99Us },
  "p99.9": { kind: "latency", pick: (s: Stats) => s.latency?.p999Us },
  max: { kind: "latency", pick: (s: Stats) => s.latency?.maxUs },
  mean: { kind: "latency", pick: (s: Stats) => s.latency?.meanUs },
  error_rate: { kind: "ratio", pick: (s: Stats) => (s.requests > 0n ? Number(s.errors) / Number(s.requests) : 0) },
  errors: { kind: "count", pick: (s: Stats) => s.errors },
  requests: { kind: "count", pick: (s: Stats) => s.requests },
  rps: { kind: "count", pick: (s: Stats) => s.requestsPerS },
} as const;

type Metric = keyof typeof METRICS;
type Op = "<" | "<=" | ">" | ">=";

/** One pass/fail rule on the fleet's merged numbers, e.g. `p99<200ms`, `error_rate<1%`, `rps>=500`. */
export interface Threshold {
  /** As written. */
  text: string;
  metric: Metric;
  op: Op;
  /** In the metric's base unit: µs for latencies, a fraction for error_rate, a count or req/s. */
  limit: number;
}

const LATENCY_UNITS: Record<string, number> = { us: 1, µs: 1, ms: 1000, s: 1_000_000 };
const FORM = /^\s*([a-z_]+|p\d+(?:\.\d+)?)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*([a-zµ%]*)\s*$/;

/** Parses a threshold; a usage error names what is wrong. */
export function parseThreshold(text: string): Threshold {
  const m = FORM.exec(text);
  if (!m) throw new UsageError(`--threshold "${text}" is not METRIC OP VALUE (e.g. 'p99<200ms', 'error_rate<1%', 'rps>=500')`);
  const [, name, op, num, unit] = m as unknown as [string, string, Op, string, string];
  if (!(name in METRICS)) throw new UsageError(`--threshold "${text}": unknown metric "${name}" (one of ${Object.keys(METRICS).join(", ")})`);
  const metric = name as Metric;
  const value = Number(num);
  let limit: number;
  switch (METRICS[metric].kind) {
    case "latency": {
      const factor = LATENCY_UNITS[unit || "ms"];
      if (factor === undefined) throw new UsageError(`--threshold "${text}": a latency takes us, ms or s, not "${unit}"`);
      limit = value * factor;
      break;
    }
    case "ratio":
      if (unit !== "" && unit !== "%") throw new UsageError(`--threshold "${text}": error_rate takes a fraction (0.01) or a percentage (1%), not "${unit}"`);
      limit = unit === "%" ? value / 100 : value;
      break;
    default:
      if (unit !== "") throw new UsageError(`--threshold "${text}": ${metric} takes a plain number, not "${unit}"`);
      limit = value;
  }
  return { text: text.trim(), metric, op, limit };
}

/** A threshold's measured value on merged numbers, in its base unit. */
export function measure(t: Threshold, s: Stats): number {
  return Number(METRICS[t.metric].pick(s) ?? 0);
}

/** True when the measured value satisfies the threshold. */
export function passes(t: Threshold, s: Stats): boolean {
  const v = measure(t, s);
  return t.op === "<" ? v < t.limit : t.op === "<=" ? v <= t.limit : t.op === ">" ? v > t.limit : v >= t.limit;
}

/**
 * Whether a breach seen live (on the numbers so far) is final: an upper bound that is crossed
 * stays crossed for counts, and for latencies and error rates it is what the run has shown so
 * far; a lower bound (`rps>=500`, `requests>1000`) can only be judged at the end.
 */
export function judgedLive(t: Threshold): boolean {
  return t.op === "<" || t.op === "<=";
}

/** The measured value as the summary prints it. */
export function formatMeasured(t: Threshold, s: Stats): string {
  const v = measure(t, s);
  switch (METRICS[t.metric].kind) {
    case "latency":
      return `${(v / 1000).toFixed(2)} ms`;
    case "ratio":
      return `${(v * 100).toFixed(2)}%`;
    default:
      return t.metric === "rps" ? v.toFixed(1) : String(v);
  }
}

/** The unit of a threshold's limit and measured value: µs, a fraction, a count, or req/s. */
export function unitOf(t: Threshold): "us" | "fraction" | "count" | "req/s" {
  const kind = METRICS[t.metric].kind;
  return kind === "latency" ? "us" : kind === "ratio" ? "fraction" : t.metric === "rps" ? "req/s" : "count";
}
