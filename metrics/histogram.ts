import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from "hdr-histogram-js";

export type { Histogram };

/** Highest latency a histogram tracks, in microseconds (one hour); larger values are clamped. */
export const HIGHEST_TRACKABLE_US = 3_600_000_000;

/** Significant decimal digits every Kannon histogram keeps. */
export const SIGNIFICANT_DIGITS = 3;

/**
 * A new latency histogram of Kannon's layout: microseconds, 3 significant digits, pure JS (no
 * WebAssembly to free). 32-bit counts for a driver's interval; 64-bit where counts add up (merges,
 * summaries, test vectors), so large counts stay exact.
 */
export function createLatencyHistogram(bitBucketSize: 32 | 64 = 32): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    bitBucketSize,
    autoResize: false,
  });
}

/** Records one latency in microseconds, clamped into the trackable range. */
export function recordUs(histogram: Histogram, us: number): void {
  const v = us < 1 ? 1 : us > HIGHEST_TRACKABLE_US ? HIGHEST_TRACKABLE_US : Math.round(us);
  histogram.recordValue(v);
}

/** Encodes a histogram in the standard HdrHistogram compressed format, as bytes. Empty → empty bytes. */
export function encodeHistogram(histogram: Histogram): Uint8Array {
  if (histogram.totalCount === 0) return new Uint8Array(0);
  return new Uint8Array(Buffer.from(encodeIntoCompressedBase64(histogram), "base64"));
}

/** Decodes bytes written by {@link encodeHistogram} (or any HdrHistogram implementation). */
export function decodeHistogram(bytes: Uint8Array): Histogram {
  if (bytes.length === 0) return createLatencyHistogram();
  return decodeFromCompressedBase64(Buffer.from(bytes).toString("base64"), 32, false);
}

/** Adds encoded histogram bytes into `into`; empty bytes add nothing. */
export function addEncoded(into: Histogram, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  into.add(decodeHistogram(bytes));
}

/** The percentiles of a distribution plot: 50 % to 99.99 %, denser towards the tail. */
export const DISTRIBUTION_PERCENTILES = [50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.975, 99.99] as const;

/**
 * [percentile, ms] at each of {@link DISTRIBUTION_PERCENTILES} of an encoded latency histogram (µs),
 * for the HTML report's percentile-distribution plot; empty for an empty or absent histogram.
 */
export function percentileDistribution(bytes: Uint8Array | undefined): [number, number][] {
  if (!bytes || bytes.length === 0) return [];
  const h = decodeHistogram(bytes);
  if (h.totalCount === 0) return [];
  return DISTRIBUTION_PERCENTILES.map((p) => [p, h.getValueAtPercentile(p) / 1000]);
}
