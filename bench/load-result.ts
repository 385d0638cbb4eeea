import type { Stats } from "../gen/kannon/v1/report_pb.js";
import type { MetricsAccumulator } from "../metrics/stats.js";

/** The one line a load-generator child prints on stdout for the bench to parse. */
export interface LoadResult {
  /** Requests completed (answered or failed) within the run. */
  requests: number;
  /** Transport errors plus HTTP statuses of 400 or more. */
  errors: number;
  /** The window the rate is computed over, in seconds. */
  durationS: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds (user + system) the generator used during the run only (not its startup). */
  cpuS: number;
  /** Open model: scheduled requests not sent (the in-flight cap was reached), and those sent late. */
  dropped?: number;
  late?: number;
  /** Open model: the first interval's p50 and drops, and the p50 of every interval after it (the generator's start against its steady state). */
  firstInterval?: { p50Ms: number; dropped: number; laterP50Ms: number };
  /** Free-form remarks (e.g. latency resolution). */
  note?: string;
  /** Scenario runs: iterations ended, and check outcomes summed over every check. */
  iterations?: number;
  checksPassed?: number;
  checksFailed?: number;
  /** Kannon fleets: the report's fleet start skew, and each driver's. */
  startSkewMs?: number;
  driverSkewsMs?: number[];
}

export const RESULT_PREFIX = "BENCH_RESULT ";

/** Prints the result line. */
export function printResult(r: LoadResult): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(r)}\n`);
}

/**
 * The result of a solo driver's run from its merged metrics (`total`, from the start instant to the
 * last interval's end): requests, errors, rate and latency of the fleet's exact merge, `cpuS`, and
 * what the caller adds (`more`, given the stats).
 */
export function accumulatedResult(total: MetricsAccumulator, startAtMs: number, lastEndMs: number, cpuS: number, more: (stats: Stats) => Partial<LoadResult>): LoadResult {
  const stats = total.toStats({ startMs: startAtMs, endMs: lastEndMs });
  return {
    requests: total.requests,
    errors: total.errors,
    durationS: (lastEndMs - startAtMs) / 1000,
    reqPerS: stats.requestsPerS,
    p50Ms: Number(stats.latency?.p50Us ?? 0n) / 1000,
    p99Ms: Number(stats.latency?.p99Us ?? 0n) / 1000,
    cpuS,
    ...more(stats),
  };
}

/** Finds the result line in a child's stdout. */
export function parseResult(stdout: string): LoadResult | undefined {
  const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  return line ? (JSON.parse(line.slice(RESULT_PREFIX.length)) as LoadResult) : undefined;
}

/** CPU seconds used by this process since `since` (a process.cpuUsage() reading). */
export function cpuSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}
