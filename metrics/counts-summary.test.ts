/**
 * countsStats summarises merged counts in one pass over the window in use; it must give exactly
 * what hdr-histogram-js computes on a real histogram of the same values (latencyStats), for
 * every shape: narrow, wide, a single value, counts beyond 32 bits, values clamped at the top.
 */
import { describe, expect, it } from "vitest";
import { Counts, decodeCounts } from "./counts.js";
import { createLatencyHistogram, encodeHistogram, HIGHEST_TRACKABLE_US, recordUs } from "./histogram.js";
import { countsStats, latencyStats } from "./stats.js";

let seed = 12345;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

/** A real histogram of `n` values drawn by `draw`, and the same values as merged counts (via its encoding, as the orchestrator gets them). */
function both(n: number, draw: () => number) {
  const h = createLatencyHistogram(64);
  for (let i = 0; i < n; i++) recordUs(h, draw());
  const counts = new Counts();
  counts.addSparse(decodeCounts(encodeHistogram(h)));
  return { h, counts };
}

describe("countsStats", () => {
  const shapes: [string, number, () => number][] = [
    ["narrow", 1000, () => 500 + random() * 300],
    ["wide", 5000, () => 1 + random() ** 4 * 3_000_000],
    ["single value", 7, () => 1234],
    ["one value of 1 µs", 1, () => 1],
    ["clamped at the top", 50, () => (random() < 0.5 ? HIGHEST_TRACKABLE_US * 2 : 10)],
    ["bimodal", 20_000, () => (random() < 0.9 ? 200 + random() * 50 : 80_000 + random() * 20_000)],
  ];
  for (const [name, n, draw] of shapes)
    it(`equals hdr-histogram-js's summary of the same histogram: ${name}`, () => {
      const { h, counts } = both(n, draw);
      // hdr-histogram-js's own numbers on the counts filled into a real histogram (a merged
      // histogram's max is its top bucket's highest equivalent value, not the raw maximum).
      const filled = counts.toHistogram();
      expect(filled.totalCount).toBe(h.totalCount);
      expect(countsStats(counts, false)).toEqual(latencyStats(filled, false));
      expect(countsStats(counts, true)).toEqual(latencyStats(counts.toHistogram(), true));
    });

  it("stays exact when counts add up beyond 32 bits", () => {
    const { counts } = both(3000, () => 100 + random() * 10_000);
    const big = new Counts();
    for (let i = 0; i < 2000; i++) big.addCounts(counts);
    for (let i = 0; i < 10; i++) big.addCounts(big);
    expect(big.total).toBe(3000 * 2000 * 1024);
    expect(countsStats(big, false)).toEqual(latencyStats(big.toHistogram(), false));
  });

  it("is empty for no counts", () => {
    expect(countsStats(new Counts(), true)).toEqual(latencyStats(createLatencyHistogram(64), true));
  });
});
