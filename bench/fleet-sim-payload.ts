/**
 * What the simulated fleet publishes and records: precomputed interval payloads (real HdrHistogram
 * encodings of known counts) and the per-test record of every interval send.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";

/**
 * A precomputed interval payload: a real encoded latency histogram of exactly `requests` values;
 * for a scenario test of S steps also each step's histogram (request i is step i mod S) and the
 * iterations' (each iteration the sum of its S requests' latencies).
 */
export interface HistogramVariant {
  requests: number;
  bytes: Uint8Array;
  steps: { requests: number; bytes: Uint8Array }[];
  iterations: { count: number; bytes: Uint8Array } | undefined;
}

/** Request counts of the four interval payloads; driver i's seq k uses variant (i + k) % 4. */
export const VARIANT_REQUESTS = [400, 600, 800, 1000] as const;
/** Bytes received counted per simulated request. */
export const BYTES_PER_REQUEST = 120;

/** Latencies 0.5–30 ms from a fixed LCG, so that every run encodes the same bytes; `steps` 0: a single-request test. */
function buildVariant(requests: number, seed: number, steps: number): HistogramVariant {
  const h = createLatencyHistogram();
  const perStep = Array.from({ length: steps }, () => createLatencyHistogram());
  const iterations = createLatencyHistogram();
  let x = seed >>> 0;
  let iteration = 0;
  for (let i = 0; i < requests; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const u = x / 2 ** 32;
    const us = 500 + u * u * (10_000 + seed * 5_000);
    recordUs(h, us);
    if (steps === 0) continue;
    recordUs(perStep[i % steps]!, us);
    iteration += us;
    if (i % steps === steps - 1) {
      recordUs(iterations, iteration);
      iteration = 0;
    }
  }
  return {
    requests,
    bytes: encodeHistogram(h),
    steps: perStep.map((s) => ({ requests: s.totalCount, bytes: encodeHistogram(s) })),
    iterations: steps > 0 ? { count: iterations.totalCount, bytes: encodeHistogram(iterations) } : undefined,
  };
}

const variants = new Map<number, readonly HistogramVariant[]>();
/** The interval payloads every simulated driver of a test of `steps` steps (0: single request) reuses. */
export function histogramVariants(steps: number): readonly HistogramVariant[] {
  let v = variants.get(steps);
  if (!v) variants.set(steps, (v = VARIANT_REQUESTS.map((n, i) => buildVariant(n, i + 1, steps))));
  return v;
}

/**
 * A scenario test's blocks of a metrics message of variant `v` (none for a single-request test):
 * every step's requests (all answered 200, every check passed; `checks[j]` checks on step j) and
 * one scenario's iterations.
 */
export function scenarioBlocks(v: HistogramVariant, checks: readonly number[]): Pick<MessageInitShape<typeof MetricsMessageSchema>, "steps" | "scenarios"> {
  if (!v.iterations) return {};
  return {
    steps: v.steps.map((s, j) => ({
      stepIndex: j,
      requests: BigInt(s.requests),
      statusCounts: { 200: BigInt(s.requests) },
      bytesReceived: BigInt(s.requests * BYTES_PER_REQUEST),
      latencyHistogram: s.bytes,
      checks: Array.from({ length: checks[j] ?? 0 }, () => ({ passed: BigInt(s.requests) })),
    })),
    scenarios: [{ scenarioIndex: 0, iterations: BigInt(v.iterations.count), iterationHistogram: v.iterations.bytes }],
  };
}

/** One `send()` of interval messages: drivers `first … first+count-1` of the test, one seq. */
export interface SimBatch { seq: number; first: number; count: number; issuedMs: number; ackedMs: number | null }

/** What the simulator published for one test. */
export interface SimTestResult {
  testId: string;
  /** The simulated drivers that ran it, in the config's order (batch indices point here). */
  driverIds: string[];
  intervalMs: number;
  startAtMs: number | null;
  /** Interval messages (not finals) per driver. */
  intervals: number;
  /** Sum of `requests` over interval messages whose send resolved. */
  expectedRequests: number;
  expectedBytes: number;
  batches: SimBatch[];
  failedSends: number;
  finalsSent: number;
  cancelled: boolean;
  /** Drivers named by the config that were busy with another test and refused it. */
  refused: string[];
}
