import type { ArrivalRate } from "../gen/kannon/v1/test_pb.js";

/** Rate changes linearly from `fromPerS` to `toPerS` over `durationMs`. */
export interface RatePhase {
  fromPerS: number;
  toPerS: number;
  durationMs: number;
}

/** The phases of an arrival-rate workload: the constant first phase, then each stage's ramp. */
export function ratePhases(spec: ArrivalRate): RatePhase[] {
  const phases: RatePhase[] = [];
  if (spec.durationMs > 0) phases.push({ fromPerS: spec.ratePerS, toPerS: spec.ratePerS, durationMs: spec.durationMs });
  let rate = spec.ratePerS;
  for (const stage of spec.stages) {
    phases.push({ fromPerS: rate, toPerS: stage.targetRatePerS, durationMs: stage.durationMs });
    rate = stage.targetRatePerS;
  }
  return phases;
}

/** Total length of the phases in ms. */
export function phasesDurationMs(phases: readonly RatePhase[]): number {
  return phases.reduce((sum, p) => sum + p.durationMs, 0);
}

/**
 * Due offsets (ms from the start) of the fleet-wide request sequence j = first, first+step, …,
 * where request j is due when the integral of the rate reaches j. Driver i of n takes j ≡ i (mod n),
 * so the shares interleave and add up exactly to the fleet's schedule. Lazily generated: O(1) memory.
 */
export function* dueOffsetsMs(phases: readonly RatePhase[], first: number, step: number): Generator<number> {
  let phaseStartMs = 0;
  let phaseStartCount = 0;
  let j = first;
  for (const p of phases) {
    const seconds = p.durationMs / 1000;
    const count = ((p.fromPerS + p.toPerS) / 2) * seconds;
    const accel = seconds > 0 ? (p.toPerS - p.fromPerS) / (2 * seconds) : 0;
    // The running count is a float sum: a hair of tolerance keeps drift from adding a request.
    while (j < phaseStartCount + count - 1e-9) {
      const n = j - phaseStartCount;
      // Solve accel·t² + from·t = n for t ≥ 0 in a form that is stable when accel is tiny or negative.
      const t = n === 0 ? 0 : (2 * n) / (p.fromPerS + Math.sqrt(p.fromPerS * p.fromPerS + 4 * accel * n));
      yield phaseStartMs + t * 1000;
      j += step;
    }
    phaseStartMs += p.durationMs;
    phaseStartCount += count;
  }
}

/** How many requests of the fleet's schedule are due before `offsetMs` (a real number). */
export function countBefore(phases: readonly RatePhase[], offsetMs: number): number {
  let count = 0;
  let startMs = 0;
  for (const p of phases) {
    const seconds = p.durationMs / 1000;
    const t = Math.min(Math.max(offsetMs - startMs, 0), p.durationMs) / 1000;
    const accel = seconds > 0 ? (p.toPerS - p.fromPerS) / (2 * seconds) : 0;
    count += p.fromPerS * t + accel * t * t;
    startMs += p.durationMs;
    if (offsetMs <= startMs) break;
  }
  return count;
}

/**
 * The first fleet-wide request index at or after `offsetMs` that belongs to share `index` of
 * `count`: where a driver's new share starts when the schedule is re-split at that instant.
 */
export function firstIndexFrom(phases: readonly RatePhase[], offsetMs: number, index: number, count: number): number {
  const j0 = Math.ceil(countBefore(phases, offsetMs) - 1e-9);
  return j0 + ((((index - j0) % count) + count) % count);
}
