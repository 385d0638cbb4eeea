/**
 * Smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`): every pick adds each weight
 * to its running score, takes the highest score (the first on a tie) and subtracts the total weight
 * from it. The sequence is deterministic and spread evenly: after any n picks, every choice has
 * been picked within one of n × weight / total. Scenario selection uses one per driver.
 */
export class SmoothWeighted {
  private readonly weights: readonly number[];
  private readonly current: number[];
  private readonly total: number;

  /** Weights are non-negative integers, at least one above 0 (a weight of 0 is never picked). */
  constructor(weights: readonly number[]) {
    for (const [i, w] of weights.entries())
      if (!Number.isSafeInteger(w) || w < 0) throw new RangeError(`weight ${i} must be a non-negative integer, got ${w}`);
    this.total = weights.reduce((a, b) => a + b, 0);
    if (this.total === 0) throw new RangeError("at least one weight must be above 0");
    this.weights = [...weights];
    this.current = weights.map(() => 0);
  }

  /** The index of the next choice. */
  next(): number {
    let best = -1;
    for (let i = 0; i < this.weights.length; i++) {
      const w = this.weights[i]!;
      if (w === 0) continue;
      this.current[i]! += w;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= this.total;
    return best;
  }
}
