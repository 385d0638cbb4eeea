import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CheckCountsSchema } from "../gen/kannon/v1/scenario_pb.js";
import { StatsSchema, StepStatsSchema } from "../gen/kannon/v1/report_pb.js";
import { MAX_PROMETHEUS_STEPS, stepRows } from "./prometheus-steps.js";

/** Stats of `n` steps; step i has i + 1 requests, i errors, 2 checks passing i and failing 1 each. */
function stepsStats(n: number) {
  return create(StatsSchema, {
    steps: Array.from({ length: n }, (_, i) =>
      create(StepStatsSchema, {
        stepIndex: i,
        scenario: i < 30 ? "a" : "b",
        step: `s${i}`,
        stats: create(StatsSchema, { requests: BigInt(i + 1), errors: BigInt(i) }),
        checks: [create(CheckCountsSchema, { name: "x", passed: BigInt(i), failed: 1n }), create(CheckCountsSchema, { name: "y", passed: BigInt(i), failed: 1n })],
      }),
    ),
  });
}

describe("Prometheus per-step rows", () => {
  it("exports every step by name up to the bound, with its own counts", () => {
    const { rows, folded } = stepRows("t1", stepsStats(3));
    expect(folded).toBe(0);
    expect(rows).toEqual([
      { labels: { test_id: "t1", scenario: "a", step: "s0" }, requests: 1, errors: 0, passed: 0, failed: 2 },
      { labels: { test_id: "t1", scenario: "a", step: "s1" }, requests: 2, errors: 1, passed: 2, failed: 2 },
      { labels: { test_id: "t1", scenario: "a", step: "s2" }, requests: 3, errors: 2, passed: 4, failed: 2 },
    ]);
  });

  it("sums the steps past the first 50 under _other and says how many", () => {
    expect(MAX_PROMETHEUS_STEPS).toBe(50);
    const { rows, folded } = stepRows("t1", stepsStats(55));
    expect(rows).toHaveLength(51);
    expect(rows.slice(0, 50).map((r) => r.labels.step)).toEqual(Array.from({ length: 50 }, (_, i) => `s${i}`));
    expect(rows[49]).toEqual({ labels: { test_id: "t1", scenario: "b", step: "s49" }, requests: 50, errors: 49, passed: 98, failed: 2 });
    // Steps 50..54: requests 51+52+53+54+55, errors 50+…+54, passed 2×(50+…+54), failed 2 each.
    expect(rows[50]).toEqual({ labels: { test_id: "t1", scenario: "_other", step: "_other" }, requests: 265, errors: 260, passed: 520, failed: 10 });
    expect(folded).toBe(5);
  });

  it("has nothing for a single-request test", () => {
    expect(stepRows("t1", create(StatsSchema, {}))).toEqual({ rows: [], folded: 0 });
  });
});
