import { describe, expect, it } from "vitest";
import { BUS_STALL_MS, LivenessEvidence, POLL_GAP_MS } from "./evidence.js";

describe("LivenessEvidence", () => {
  it("counts silence only while polls go on; a stall is reported once; polls resuming after a gap owe drivers a window", () => {
    const logs: string[] = [];
    const e = new LivenessEvidence((m) => logs.push(m));
    // A bus that cannot fail (no poll times): always evidence up to now.
    expect(e.check(1000, undefined)).toEqual({ until: 1000, gap: undefined });
    // Regular polls.
    expect(e.check(2000, 1950)).toEqual({ until: 1950, gap: undefined });
    expect(e.check(2250, 2200)).toEqual({ until: 2200, gap: undefined });
    // Polls stop: evidence holds until the stall limit, then it is gone (logged once).
    expect(e.check(2200 + BUS_STALL_MS - 1, 2200).until).toBe(2200);
    expect(e.check(2200 + BUS_STALL_MS + 1, 2200).until).toBeUndefined();
    expect(e.check(2200 + BUS_STALL_MS + 500, 2200).until).toBeUndefined();
    expect(e.stalls).toBe(1);
    expect(e.stalledSince).toBe(2200 + BUS_STALL_MS + 1);
    expect(logs.filter((l) => /unreachable/.test(l))).toHaveLength(1);
    // Polls resume: the gap is reported, the stall is over.
    const back = e.check(20_000, 19_990);
    expect(back.until).toBe(19_990);
    expect(back.gap).toBe(19_990 - 2200);
    expect(e.stalledSince).toBeUndefined();
    expect(logs.at(-1)).toMatch(/back after/);
    // A pause longer than the gap limit but shorter than a stall (a long GC, a rebalance) is a gap too.
    expect(e.check(20_000 + POLL_GAP_MS + 200, 19_990 + POLL_GAP_MS + 100).gap).toBe(POLL_GAP_MS + 100);
  });
});
