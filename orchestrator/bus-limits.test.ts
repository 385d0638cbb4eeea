import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { BUS_LIMITS, metricsProblem } from "./bus-limits.js";

const base = { testId: "t1", driverId: "d1" };

describe("metricsProblem: a scenario test's blocks are bounded", () => {
  it("refuses more step or scenario blocks than a test can have, and a step's unbounded counts", () => {
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ stepIndex: i }));
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, steps: steps(BUS_LIMITS.stepEntries) }))).toBeUndefined();
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, steps: steps(BUS_LIMITS.stepEntries + 1) }))).toBe(
      `a metrics message with ${BUS_LIMITS.stepEntries + 1} step and 0 scenario blocks (at most ${BUS_LIMITS.stepEntries} each)`,
    );
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, scenarios: steps(BUS_LIMITS.stepEntries + 1).map((s) => ({ scenarioIndex: s.stepIndex })) }))).toMatch(/0 step and 257 scenario blocks/);
    const kinds = Object.fromEntries(Array.from({ length: BUS_LIMITS.countEntries + 1 }, (_, i) => [`k${i}`, 1n]));
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, steps: [{ stepIndex: 0, errorCounts: kinds }] }))).toMatch(/1001 error counts/);
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, steps: [{ stepIndex: 0, errorCounts: { ["x".repeat(BUS_LIMITS.errorKindChars + 1)]: 1n } }] }))).toMatch(/error kind over/);
  });

  it("bounds RPC code and protocol counts as it does error kinds", () => {
    const many = Object.fromEntries(Array.from({ length: BUS_LIMITS.countEntries + 1 }, (_, i) => [`c${i}`, 1n]));
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, codeCounts: { ok: 3n, unavailable: 1n }, protocolCounts: { h2: 4n } }))).toBeUndefined();
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, steps: [{ stepIndex: 0, codeCounts: many }] }))).toBe(`a metrics message with 1001 code counts (at most ${BUS_LIMITS.countEntries})`);
    expect(metricsProblem(create(MetricsMessageSchema, { ...base, protocolCounts: { ["h".repeat(BUS_LIMITS.errorKindChars + 1)]: 1n } }))).toBe(
      `a metrics message with a protocol name over ${BUS_LIMITS.errorKindChars} characters`,
    );
  });
});
