import { describe, expect, it } from "vitest";
import { SmoothWeighted } from "./weighted.js";

function picks(weights: number[], n: number): number[] {
  const s = new SmoothWeighted(weights);
  return Array.from({ length: n }, () => s.next());
}

describe("SmoothWeighted", () => {
  it("gives nginx's documented sequence for weights 5, 1, 1: a a b a c a a", () => {
    // nginx's commit message for the smooth algorithm (ngx_http_upstream_round_robin.c, 2012).
    expect(picks([5, 1, 1], 7)).toEqual([0, 0, 1, 0, 2, 0, 0]);
    // and repeats with period 7
    expect(picks([5, 1, 1], 14).slice(7)).toEqual([0, 0, 1, 0, 2, 0, 0]);
  });

  it("alternates equal weights and never picks a zero weight", () => {
    expect(picks([1, 1], 4)).toEqual([0, 1, 0, 1]);
    expect(picks([0, 2, 0, 1], 6)).toEqual([1, 3, 1, 1, 3, 1]);
  });

  it("keeps every choice within one pick of its exact share after every pick", () => {
    for (const weights of [[3, 7], [1, 2, 3, 4], [100, 1, 1], [13, 0, 29, 5], [1, 999]]) {
      const total = weights.reduce((a, b) => a + b, 0);
      const s = new SmoothWeighted(weights);
      const counts = weights.map(() => 0);
      for (let n = 1; n <= 3000; n++) {
        counts[s.next()]!++;
        for (const [i, w] of weights.entries()) expect(Math.abs(counts[i]! - (n * w) / total)).toBeLessThanOrEqual(1);
      }
    }
  });

  it("refuses all-zero, negative and fractional weights", () => {
    expect(() => new SmoothWeighted([0, 0])).toThrow(/at least one weight/);
    expect(() => new SmoothWeighted([])).toThrow(/at least one weight/);
    expect(() => new SmoothWeighted([1, -1])).toThrow(/weight 1/);
    expect(() => new SmoothWeighted([1.5])).toThrow(/weight 0/);
  });
});
