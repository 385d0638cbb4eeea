import { inflateSync } from "node:zlib";
import { createLatencyHistogram, decodeHistogram, HIGHEST_TRACKABLE_US, SIGNIFICANT_DIGITS, type Histogram } from "./histogram.js";

/**
 * Histogram counts by bucket index, for the orchestrator's merge: what an HDR histogram of
 * Kannon's layout (lowest discernible value 1 µs, 3 significant digits) holds, without its
 * ~92 KB counts array. Only the window of indices in use is allocated (a driver whose latencies
 * span 200 µs–50 ms needs ~26 KB), as 32-bit counts until one would overflow, then 64-bit floats.
 *
 * Encoded histograms are decoded straight into (index, count) pairs (native zlib, no base64, no
 * full-size histogram per message), and adding is a loop over those pairs. Percentiles, mean and
 * the standard encoding still come from hdr-histogram-js: {@link Counts.toHistogram} fills one
 * scratch histogram, so every number is exactly what adding real histograms would give.
 */
export class Counts {
  /** Index of `arr[0]`. */
  private lo = 0;
  private arr: Uint32Array | Float64Array = EMPTY_WINDOW;
  /** Sum of all counts. */
  total = 0;

  /** Adds `count` at bucket `index`. */
  addAt(index: number, count: number): void {
    if (count <= 0) return;
    this.cover(index, index + 1);
    const i = index - this.lo;
    const v = this.arr[i]! + count;
    if (v > 0xffffffff && this.arr instanceof Uint32Array) this.arr = Float64Array.from(this.arr);
    this.arr[i] = v;
    this.total += count;
  }

  /** Adds decoded pairs. */
  addSparse(s: SparseCounts): void {
    if (s.length === 0) return;
    this.cover(s.indices[0]!, s.indices[s.length - 1]! + 1);
    for (let k = 0; k < s.length; k++) {
      const i = s.indices[k]! - this.lo;
      const v = this.arr[i]! + s.counts[k]!;
      if (v > 0xffffffff && this.arr instanceof Uint32Array) this.arr = Float64Array.from(this.arr);
      this.arr[i] = v;
    }
    this.total += s.total;
  }

  /** Adds every count of another. */
  addCounts(other: Counts): void {
    if (other.total === 0) return;
    const o = other.arr;
    for (let k = 0; k < o.length; k++) if (o[k]! > 0) this.addAt(other.lo + k, o[k]!);
  }

  /** Fills `scratch` (reset first) with these counts, so hdr-histogram-js can summarise them. */
  toHistogram(scratch: Histogram = createLatencyHistogram(64)): Histogram {
    scratch.reset();
    if (this.total === 0) return scratch;
    const h = scratch as unknown as HistogramInternals;
    const a = this.arr;
    for (let k = 0; k < a.length; k++) if (a[k]! > 0) h.setCountAtIndex(this.lo + k, a[k]!);
    h.establishInternalTackingValues();
    return scratch;
  }

  /**
   * What a latency summary reads, computed from the window in use: the same values, summed in the
   * same order, as hdr-histogram-js's `getValueAtPercentile`, `mean`, `stdDeviation`, `minNonZeroValue`
   * and `maxValue` on a histogram filled by {@link toHistogram} (so the same numbers), without its
   * scans of the whole ~23,000-entry counts array per call: a report of 1,000 drivers with 5 steps
   * summarises ~6,000 of them.
   */
  summarize(percentiles: readonly number[]): CountsSummary {
    const a = this.arr;
    let min = Number.MAX_VALUE;
    let maxIndex = -1;
    let weighted = 0;
    for (let k = 0; k < a.length; k++) {
      const c = a[k]!;
      if (c === 0) continue;
      const index = this.lo + k;
      if (min === Number.MAX_VALUE && index !== 0) min = lowestOf(index);
      maxIndex = index;
      weighted += medianOf(index) * c;
    }
    const count = this.total;
    if (count === 0) return { count, min: 0, max: 0, mean: 0, stdev: 0, at: percentiles.map(() => 0) };
    const mean = weighted / count;
    let deviations = 0;
    for (let k = 0; k < a.length; k++) {
      const c = a[k]!;
      if (c === 0) continue;
      const deviation = medianOf(this.lo + k) - mean;
      deviations += deviation * deviation * c;
    }
    // hdr-histogram-js: the count at each percentile rounded up, less one ulp of fp error, then the
    // first bucket whose running total reaches it (one pass: the wanted counts only grow).
    const wanted = percentiles.map((p) => {
      const fp = (Math.min(p, 100) / 100) * count;
      return Math.max(Math.ceil(fp - 2 ** (Math.floor(Math.log2(fp)) - 52)), 1);
    });
    const order = wanted.map((_, i) => i).sort((x, y) => wanted[x]! - wanted[y]!);
    const at = percentiles.map(() => 0);
    let next = 0;
    let sum = 0;
    for (let k = 0; k < a.length && next < order.length; k++) {
      sum += a[k]!;
      while (next < order.length && sum >= wanted[order[next]!]!) at[order[next++]!] = highestOf(this.lo + k);
    }
    return { count, min, max: highestOf(maxIndex), mean, stdev: Math.sqrt(deviations / count), at };
  }

  /** Grows the window to cover [from, to), with slack so that neighbouring indices do not regrow it. */
  private cover(from: number, to: number): void {
    const hi = this.lo + this.arr.length;
    if (this.arr.length > 0 && from >= this.lo && to <= hi) return;
    if (to > COUNTS_LENGTH || from < 0) throw new Error(`histogram index ${from < 0 ? from : to - 1} is out of range`);
    const lo = this.arr.length === 0 ? Math.max(0, from - SLACK) : Math.max(0, Math.min(this.lo, from - SLACK));
    const newHi = Math.min(COUNTS_LENGTH, Math.max(this.arr.length === 0 ? 0 : hi, to + SLACK));
    const next = this.arr instanceof Float64Array ? new Float64Array(newHi - lo) : new Uint32Array(newHi - lo);
    if (this.arr.length > 0) next.set(this.arr, this.lo - lo);
    this.arr = next;
    this.lo = lo;
  }
}

/** A latency summary's numbers (see {@link Counts.summarize}); `at[i]` is the value at `percentiles[i]`. */
export interface CountsSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  stdev: number;
  at: number[];
}

/** Decoded (index, count) pairs of one encoded histogram, in index order. */
export interface SparseCounts {
  indices: Uint32Array;
  counts: Float64Array;
  length: number;
  total: number;
}

/** Empty pairs (an empty encoding). */
export const NO_COUNTS: SparseCounts = { indices: new Uint32Array(0), counts: new Float64Array(0), length: 0, total: 0 };

const EMPTY_WINDOW = new Uint32Array(0);
const INFLATE_CHUNK_BYTES = 4096;
const SLACK = 64;
const COMPRESSED_COOKIE_BASE = 0x1c849304;
const COOKIE_BASE = 0x1c849303;
const HEADER_BYTES = 40;

interface HistogramInternals {
  setCountAtIndex(index: number, value: number): void;
  establishInternalTackingValues(): void;
  countsArrayIndex(value: number): number;
  countsArrayLength: number;
}

/**
 * Bucket `index`'s values in Kannon's layout (lowest discernible value 1, 3 significant digits:
 * 1,024 sub-buckets per half bucket): they start at its lowest value and span a power of two
 * (`2^bucket`); what hdr-histogram-js's valueFromIndex, highestEquivalentValue and
 * medianEquivalentValue give for it.
 */
const HALF = 1024;
function spanOf(index: number): number {
  return 2 ** Math.max(0, Math.floor(index / HALF) - 1);
}
function lowestOf(index: number): number {
  const bucket = Math.floor(index / HALF) - 1;
  return bucket < 0 ? index : ((index % HALF) + HALF) * 2 ** bucket;
}
function highestOf(index: number): number {
  return lowestOf(index) + spanOf(index) - 1;
}
function medianOf(index: number): number {
  return lowestOf(index) + Math.floor(spanOf(index) / 2);
}

/** Length of a counts array of Kannon's layout: every index a valid histogram can use. */
const COUNTS_LENGTH = (createLatencyHistogram(64) as unknown as HistogramInternals).countsArrayLength;

/**
 * Decodes the standard HdrHistogram compressed encoding (V2) into (index, count) pairs of Kannon's
 * layout. An encoding with another lowest value or precision (another language's defaults) is
 * decoded by hdr-histogram-js and re-bucketed value by value. Throws on bytes that are not an
 * encoded histogram.
 */
export function decodeCounts(bytes: Uint8Array): SparseCounts {
  if (bytes.length === 0) return NO_COUNTS;
  if (bytes.length < 8) throw new Error(`an encoded histogram needs at least 8 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cookie = view.getInt32(0);
  if ((cookie & ~0xf0) !== COMPRESSED_COOKIE_BASE) throw new Error("not an HdrHistogram compressed encoding (V2)");
  const length = view.getInt32(4);
  if (length < 0 || 8 + length > bytes.length) throw new Error(`encoded histogram truncated: ${length} compressed bytes announced, ${bytes.length - 8} present`);
  // 4 KB output chunks instead of zlib's 16 KB: most intervals inflate to well under 4 KB, and the
  // orchestrator inflates one histogram per step per driver per interval (half the time per call).
  const raw = inflateSync(bytes.subarray(8, 8 + length), { maxOutputLength: 16 * 1024 * 1024, chunkSize: INFLATE_CHUNK_BYTES });
  const rv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (raw.length < HEADER_BYTES || (rv.getInt32(0) & ~0xf0) !== COOKIE_BASE) throw new Error("encoded histogram has a bad inner header");
  const payload = rv.getInt32(4);
  const digits = rv.getInt32(12);
  const lowest = Number(rv.getBigInt64(16));
  if (payload < 0 || HEADER_BYTES + payload > raw.length) throw new Error("encoded histogram payload truncated");
  // Bytes 8–11 (the normalizing index offset) are ignored, as hdr-histogram-js does (it writes 1 there).
  if (digits !== SIGNIFICANT_DIGITS || lowest !== 1) return rebucket(bytes);
  return readPairs(raw, HEADER_BYTES, HEADER_BYTES + payload);
}

/** Shared decode buffers (a decode copies its pairs out of them). */
let scratchIndices = new Uint32Array(4096);
let scratchCounts = new Float64Array(4096);

/** Reads ZigZag LEB128 counts (negative: a run of zeros) into pairs. */
function readPairs(raw: Uint8Array, start: number, end: number): SparseCounts {
  // Every pair takes at least one byte: the payload length bounds the pair count.
  if (scratchIndices.length < end - start) {
    scratchIndices = new Uint32Array(end - start);
    scratchCounts = new Float64Array(end - start);
  }
  const indices = scratchIndices;
  const counts = scratchCounts;
  let n = 0;
  let total = 0;
  let index = 0;
  let p = start;
  while (p < end) {
    let b = raw[p++]!;
    let value: number;
    if (b < 0x80) value = b;
    else {
      // LEB128-64b9B: up to 8 bytes of 7 bits, a 9th of 8 bits; exact up to 2^53 with arithmetic.
      value = b & 0x7f;
      let scale = 128;
      for (let k = 1; ; k++) {
        if (p >= end) throw new Error("encoded histogram ends inside a count");
        b = raw[p++]!;
        if (k === 8) {
          value += b * scale;
          break;
        }
        value += (b & 0x7f) * scale;
        if (b < 0x80) break;
        scale *= 128;
      }
    }
    // ZigZag: even → value/2, odd → -(value+1)/2 (a run of zeros).
    if (value % 2 === 1) {
      index += (value + 1) / 2;
      continue;
    }
    const count = value / 2;
    if (count > 0) {
      if (index >= COUNTS_LENGTH) throw new Error(`encoded histogram has a count at index ${index}, beyond ${HIGHEST_TRACKABLE_US} µs`);
      indices[n] = index;
      counts[n] = count;
      n++;
      total += count;
    }
    index++;
  }
  return { indices: indices.slice(0, n), counts: counts.slice(0, n), length: n, total };
}

const rebucketScratch = createLatencyHistogram(64) as unknown as HistogramInternals;

/** A histogram of another layout, re-bucketed value by value into Kannon's. */
function rebucket(bytes: Uint8Array): SparseCounts {
  const h = decodeHistogram(bytes);
  const byIndex = new Map<number, number>();
  const other = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number; valueFromIndex(i: number): number; medianEquivalentValue(v: number): number };
  for (let i = 0; i < other.countsArrayLength; i++) {
    const c = other.getCountAtIndex(i);
    if (c <= 0) continue;
    const v = Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.round(other.medianEquivalentValue(other.valueFromIndex(i)))));
    const idx = rebucketScratch.countsArrayIndex(v);
    byIndex.set(idx, (byIndex.get(idx) ?? 0) + c);
  }
  const keys = [...byIndex.keys()].sort((a, b) => a - b);
  const out: SparseCounts = { indices: new Uint32Array(keys.length), counts: new Float64Array(keys.length), length: keys.length, total: 0 };
  keys.forEach((k, j) => {
    out.indices[j] = k;
    out.counts[j] = byIndex.get(k)!;
    out.total += byIndex.get(k)!;
  });
  return out;
}
