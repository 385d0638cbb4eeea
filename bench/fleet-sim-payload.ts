/**
 * What the simulated fleet publishes and records: precomputed interval payloads (real HdrHistogram
 * encodings of known counts) and the per-test record of every interval send.
 */
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";

/** A precomputed interval payload: a real encoded latency histogram of exactly `requests` values. */
export interface HistogramVariant { requests: number; bytes: Uint8Array }

/** Request counts of the four interval payloads; driver i's seq k uses variant (i + k) % 4. */
export const VARIANT_REQUESTS = [400, 600, 800, 1000] as const;
/** Bytes received counted per simulated request. */
export const BYTES_PER_REQUEST = 120;

/** Latencies 0.5–30 ms from a fixed LCG, so that every run encodes the same bytes. */
function buildVariant(requests: number, seed: number): HistogramVariant {
  const h = createLatencyHistogram();
  let x = seed >>> 0;
  for (let i = 0; i < requests; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const u = x / 2 ** 32;
    recordUs(h, 500 + u * u * (10_000 + seed * 5_000));
  }
  return { requests, bytes: encodeHistogram(h) };
}

/** The interval payloads every simulated driver reuses. */
export const HISTOGRAM_VARIANTS: readonly HistogramVariant[] = VARIANT_REQUESTS.map((n, i) => buildVariant(n, i + 1));

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
