import { describe, expect, it } from "vitest";
import { createLatencyHistogram, decodeHistogram, encodeHistogram, recordUs } from "../../metrics/histogram.js";
import { ScenarioRecorder } from "../scenario/scenario-recorder.js";
import { mergeSnapshots } from "./merge-snapshots.js";
import { emptySnapshot } from "./recorder.js";

describe("mergeSnapshots of scenario intervals", () => {
  it("adds steps and scenarios by index, exactly, whichever part counted them", () => {
    const shape = { steps: [["ok"], [], ["a", "b"]], scenarios: 2 };
    const one = new ScenarioRecorder(false, shape);
    const two = new ScenarioRecorder(false, shape);
    const latencies: number[] = [];
    // Part one: step 0 (scenario 0) twice; part two: step 0 once and step 2 (scenario 1) once.
    for (const [r, step, ms] of [[one, 0, 3], [one, 0, 5], [two, 0, 7], [two, 2, 11]] as const) {
      r.response(step, 200, 10, 0, 0, ms);
      latencies.push(ms * 1000);
    }
    one.check(0, 0, true);
    one.check(0, 0, false);
    two.check(0, 0, true);
    two.check(2, 1, false);
    two.captureMissing(2);
    one.iteration(0, 3);
    one.iteration(0, 5, 0);
    two.iteration(0, 7);
    two.iteration(1, 11);
    two.error(2, "timeout", 0, 0, 20);

    const merged = mergeSnapshots([one.take(), two.take()]);
    expect(merged.requests).toBe(5);
    expect(merged.steps!.map((s) => [s.stepIndex, s.counts.requests, s.counts.bytesReceived, s.checks, s.captureMissing, s.abortedIterations])).toEqual([
      [0, 3, 30, [{ name: "ok", passed: 2, failed: 1 }], 0, 1],
      [2, 2, 10, [{ name: "a", passed: 0, failed: 0 }, { name: "b", passed: 0, failed: 1 }], 1, 0],
    ]);
    expect(merged.steps![1]!.counts.errorCounts).toEqual(new Map([["timeout", 1]]));
    expect(merged.scenarios!.map((s) => [s.scenarioIndex, s.iterations, s.aborted])).toEqual([
      [0, 3, 1],
      [1, 1, 0],
    ]);
    // The merged step histogram is the histogram of all its samples.
    const all = createLatencyHistogram();
    for (const us of latencies.slice(0, 3)) recordUs(all, us);
    expect(decodeHistogram(merged.steps![0]!.counts.latencyHistogram).outputPercentileDistribution()).toBe(decodeHistogram(encodeHistogram(all)).outputPercentileDistribution());
    expect(decodeHistogram(merged.scenarios![0]!.iterationHistogram).totalCount).toBe(3);
    // The next interval starts empty: nothing counted, no entries.
    const next = mergeSnapshots([one.take(), two.take()]);
    expect([next.requests, next.steps, next.scenarios]).toEqual([0, [], []]);
  });

  it("a single-request interval stays without steps or scenarios", () => {
    const part = { ...emptySnapshot(), requests: 1, statusCounts: new Map([[200, 1]]), bytesReceived: 2 };
    const merged = mergeSnapshots([part, { ...part }]);
    expect(merged.requests).toBe(2);
    expect("steps" in merged || "scenarios" in merged).toBe(false);
  });
});
