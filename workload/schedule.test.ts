import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ArrivalRateSchema } from "../gen/kannon/v1/test_pb.js";
import { countBefore, dueOffsetsMs, firstIndexFrom, phasesDurationMs, ratePhases, type RatePhase } from "./schedule.js";

const arrival = (init: MessageInitShape<typeof ArrivalRateSchema>) => create(ArrivalRateSchema, init);

/** Requests due in each whole second [s, s+1). */
function perSecond(offsets: number[], seconds: number): number[] {
  const counts = new Array<number>(seconds).fill(0);
  for (const o of offsets) counts[Math.floor(o / 1000)]! += 1;
  return counts;
}

function expectNonDecreasing(offsets: number[]): void {
  for (let i = 1; i < offsets.length; i++) expect(offsets[i]!).toBeGreaterThanOrEqual(offsets[i - 1]!);
}

describe("ratePhases / phasesDurationMs", () => {
  it("a constant rate is one flat phase", () => {
    const phases = ratePhases(arrival({ ratePerS: 300, durationMs: 5000 }));
    expect(phases).toEqual([{ fromPerS: 300, toPerS: 300, durationMs: 5000 }]);
    expect(phasesDurationMs(phases)).toBe(5000);
  });

  it("stages ramp from the previous rate; a zero-length first phase is left out", () => {
    const phases = ratePhases(
      arrival({
        ratePerS: 0,
        durationMs: 0,
        stages: [
          { targetRatePerS: 300, durationMs: 5000 },
          { targetRatePerS: 300, durationMs: 2000 },
          { targetRatePerS: 50, durationMs: 1000 },
        ],
      }),
    );
    expect(phases).toEqual([
      { fromPerS: 0, toPerS: 300, durationMs: 5000 },
      { fromPerS: 300, toPerS: 300, durationMs: 2000 },
      { fromPerS: 300, toPerS: 50, durationMs: 1000 },
    ]);
    expect(phasesDurationMs(phases)).toBe(8000);
    expect(phasesDurationMs([])).toBe(0);
  });

  it("constant phase first, then stages starting from its rate", () => {
    const phases = ratePhases(arrival({ ratePerS: 100, durationMs: 1000, stages: [{ targetRatePerS: 200, durationMs: 500 }] }));
    expect(phases).toEqual([
      { fromPerS: 100, toPerS: 100, durationMs: 1000 },
      { fromPerS: 100, toPerS: 200, durationMs: 500 },
    ]);
  });
});

describe("dueOffsetsMs", () => {
  const constant300 = ratePhases(arrival({ ratePerS: 300, durationMs: 5000 }));

  it("constant 300/s for 5 s: exactly 1500 offsets, evenly spaced 3.333 ms, within [0, 5000)", () => {
    const offsets = [...dueOffsetsMs(constant300, 0, 1)];
    expect(offsets).toHaveLength(1500);
    expect(offsets[0]).toBe(0);
    for (const o of offsets) {
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThan(5000);
    }
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]! - offsets[i - 1]!).toBeCloseTo(1000 / 300, 9);
    expect(offsets[1499]).toBeCloseTo((1499 * 1000) / 300, 6);
    expect(perSecond(offsets, 5)).toEqual([300, 300, 300, 300, 300]);
  });

  it("split over 3 drivers: 500 each, disjoint, and the union is the fleet schedule", () => {
    const fleet = [...dueOffsetsMs(constant300, 0, 1)];
    const shares = [0, 1, 2].map((i) => [...dueOffsetsMs(constant300, i, 3)]);
    for (const [i, share] of shares.entries()) {
      expect(share).toHaveLength(500);
      expect(share[0]).toBeCloseTo((i * 1000) / 300, 9);
      // Driver i takes fleet requests i, i+3, i+6, ...
      share.forEach((o, k) => expect(o).toBe(fleet[i + 3 * k]));
      expectNonDecreasing(share);
    }
    const union = shares.flat().sort((a, b) => a - b);
    expect(union).toEqual(fleet);
  });

  it("a split whose size does not divide the total still adds up exactly", () => {
    const phases: RatePhase[] = [{ fromPerS: 10, toPerS: 10, durationMs: 1000 }];
    const shares = [0, 1, 2].map((i) => [...dueOffsetsMs(phases, i, 3)]);
    expect(shares.map((s) => s.length)).toEqual([4, 3, 3]);
    expect(shares.flat().sort((a, b) => a - b)).toEqual([...dueOffsetsMs(phases, 0, 1)]);
  });

  it("a ramp 0→300/s over 5 s: 750 requests, per-second counts rising 30, 90, 150, 210, 270", () => {
    const phases = ratePhases(arrival({ ratePerS: 0, durationMs: 0, stages: [{ targetRatePerS: 300, durationMs: 5000 }] }));
    const offsets = [...dueOffsetsMs(phases, 0, 1)];
    expect(offsets).toHaveLength(750);
    expect(offsets[0]).toBe(0);
    expectNonDecreasing(offsets);
    expect(offsets[749]!).toBeLessThan(5000);
    const counts = perSecond(offsets, 5);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(750);
    const expected = [30, 90, 150, 210, 270];
    counts.forEach((c, s) => expect(Math.abs(c - expected[s]!)).toBeLessThanOrEqual(1));
    for (let s = 1; s < 5; s++) expect(counts[s]!).toBeGreaterThan(counts[s - 1]!);
    // Request n of a linear ramp from 0 is due at sqrt(n / 30) seconds.
    for (const n of [1, 30, 120, 400, 749]) expect(offsets[n]!).toBeCloseTo(Math.sqrt(n / 30) * 1000, 6);
  });

  it("a step down from 300/s to 100/s keeps each phase's rate", () => {
    const phases: RatePhase[] = [
      { fromPerS: 300, toPerS: 300, durationMs: 1000 },
      { fromPerS: 100, toPerS: 100, durationMs: 1000 },
    ];
    const offsets = [...dueOffsetsMs(phases, 0, 1)];
    expect(offsets).toHaveLength(400);
    expectNonDecreasing(offsets);
    expect(perSecond(offsets, 2)).toEqual([300, 100]);
    expect(offsets[300]).toBeCloseTo(1000, 9);
    for (let i = 301; i < 400; i++) expect(offsets[i]! - offsets[i - 1]!).toBeCloseTo(10, 9);
    expect(offsets[399]!).toBeLessThan(2000);
  });

  it("a ramp down 300→100/s over 2 s: 400 requests, per-second counts falling, never negative time", () => {
    const phases = ratePhases(arrival({ ratePerS: 300, durationMs: 0, stages: [{ targetRatePerS: 100, durationMs: 2000 }] }));
    const offsets = [...dueOffsetsMs(phases, 0, 1)];
    expect(offsets).toHaveLength(400);
    expect(offsets.every((o) => Number.isFinite(o) && o >= 0 && o < 2000)).toBe(true);
    expectNonDecreasing(offsets);
    const [first, second] = perSecond(offsets, 2);
    expect(first! + second!).toBe(400);
    // Integral of the rate over [0,1 s] is (300+200)/2 = 250, over [1,2 s] is 150.
    expect(first).toBe(250);
    expect(second).toBe(150);
  });

  it("a ramp down to zero stays finite and within the phase", () => {
    const phases: RatePhase[] = [{ fromPerS: 300, toPerS: 0, durationMs: 2000 }];
    const offsets = [...dueOffsetsMs(phases, 0, 1)];
    expect(offsets).toHaveLength(300);
    expect(offsets.every((o) => Number.isFinite(o) && o >= 0 && o < 2000)).toBe(true);
    expectNonDecreasing(offsets);
  });

  it("offsets are non-decreasing across mixed phases, and continue across phase boundaries", () => {
    const phases = ratePhases(
      arrival({
        ratePerS: 7.5,
        durationMs: 1300,
        stages: [
          { targetRatePerS: 120, durationMs: 700 },
          { targetRatePerS: 0, durationMs: 900 },
          { targetRatePerS: 0, durationMs: 500 },
          { targetRatePerS: 33.3, durationMs: 1100 },
        ],
      }),
    );
    const total = phasesDurationMs(phases);
    const fleet = [...dueOffsetsMs(phases, 0, 1)];
    // Integral of the rate: 7.5·1.3 + 63.75·0.7 + 60·0.9 + 0 + 16.65·1.1 = 126.69 → requests 0..126.
    expect(fleet).toHaveLength(127);
    expectNonDecreasing(fleet);
    expect(fleet.every((o) => o >= 0 && o < total)).toBe(true);
    // Nothing is due during the 500 ms at rate 0.
    expect(fleet.filter((o) => o >= 2900 && o < 3400)).toEqual([]);
    const shares = [0, 1, 2, 3].map((i) => [...dueOffsetsMs(phases, i, 4)]);
    expect(shares.flat().sort((a, b) => a - b)).toEqual(fleet);
  });

  it("is lazy: taking a few offsets of a huge schedule is instant", () => {
    const gen = dueOffsetsMs([{ fromPerS: 1e9, toPerS: 1e9, durationMs: 3_600_000 }], 0, 1);
    const first = [gen.next().value, gen.next().value, gen.next().value] as number[];
    expect(first[0]).toBe(0);
    expect(first[1]).toBeCloseTo(1e-6, 12);
    expect(first[2]).toBeCloseTo(2e-6, 12);
  });

  it("no phases or zero rate yields nothing", () => {
    expect([...dueOffsetsMs([], 0, 1)]).toEqual([]);
    expect([...dueOffsetsMs([{ fromPerS: 0, toPerS: 0, durationMs: 1000 }], 0, 1)]).toEqual([]);
  });
});

describe("re-splitting a schedule (countBefore / firstIndexFrom)", () => {
  const ramp: RatePhase[] = [
    { fromPerS: 100, toPerS: 100, durationMs: 1000 },
    { fromPerS: 100, toPerS: 400, durationMs: 2000 },
  ];

  it("countBefore integrates the rate: constant, then a linear ramp", () => {
    expect(countBefore(ramp, 0)).toBe(0);
    expect(countBefore(ramp, 500)).toBeCloseTo(50, 9);
    expect(countBefore(ramp, 1000)).toBeCloseTo(100, 9);
    // 1 s into the ramp: 100·1 + (300/4)·1² = 175 more.
    expect(countBefore(ramp, 2000)).toBeCloseTo(275, 9);
    expect(countBefore(ramp, 3000)).toBeCloseTo(600, 9);
    expect(countBefore(ramp, 9000)).toBeCloseTo(600, 9);
  });

  it("3 drivers re-split to 2 at an instant cover every request exactly once", () => {
    const atMs = 1700;
    const fleet = [...dueOffsetsMs(ramp, 0, 1)];
    const got: number[] = [];
    for (let i = 0; i < 3; i++) for (const o of dueOffsetsMs(ramp, i, 3)) if (o < atMs) got.push(o);
    for (let i = 0; i < 2; i++) for (const o of dueOffsetsMs(ramp, firstIndexFrom(ramp, atMs, i, 2), 2)) got.push(o);
    got.sort((a, b) => a - b);
    expect(got).toHaveLength(fleet.length);
    got.forEach((o, k) => expect(o).toBeCloseTo(fleet[k]!, 9));
  });

  it("firstIndexFrom picks the share's first index at or after the instant", () => {
    const constant: RatePhase[] = [{ fromPerS: 100, toPerS: 100, durationMs: 10_000 }];
    // 105 requests are due before 1050 ms: indexes from 105 on; share 1 of 2 starts at 105, share 0 at 106.
    expect(firstIndexFrom(constant, 1050, 1, 2)).toBe(105);
    expect(firstIndexFrom(constant, 1050, 0, 2)).toBe(106);
    expect(firstIndexFrom(constant, 1000, 0, 4)).toBe(100);
  });
});
