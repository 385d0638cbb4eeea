import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StatsSchema } from "../gen/kannon/v1/report_pb.js";
import type { Orchestrator } from "./orchestrator.js";
import { callsByCode, createPrometheusRegistry } from "./prometheus.js";

describe("Prometheus RPC calls by code", () => {
  it("labels Connect's codes and sums any other name under other", () => {
    const s = create(StatsSchema, { codeCounts: { ok: 90n, unavailable: 7n, "made-up": 2n, "another\nname": 1n } });
    expect(callsByCode(s)).toEqual(new Map([["ok", 90], ["unavailable", 7], ["other", 3]]));
    expect(callsByCode(create(StatsSchema, {}))).toEqual(new Map());
  });

  it("kannon_test_calls_total{test_id, code} counts a running test's calls so far", async () => {
    const stats = create(StatsSchema, { requests: 100n, codeCounts: { ok: 95n, deadline_exceeded: 5n } });
    // Only what the registry reads of an orchestrator, for one running test.
    const o = {
      fleet: { list: () => [], invalid: 0, overflow: 0 },
      testsByState: () => new Map(),
      runningTests: () => [{ test: { id: "t1" }, cumulativeStats: () => stats, lastInterval: undefined }],
      stats: { metricsApplied: 0, metricsDuplicate: 0, metricsIgnored: 0, metricsInvalid: 0, batches: 0, heartbeats: 0, busStalls: 0 },
    } as unknown as Orchestrator;
    const text = await createPrometheusRegistry(o).metrics();
    expect(text).toContain("# TYPE kannon_test_calls_total counter");
    expect(text.split("\n").filter((l) => l.startsWith("kannon_test_calls_total{"))).toEqual([
      'kannon_test_calls_total{test_id="t1",code="ok"} 95',
      'kannon_test_calls_total{test_id="t1",code="deadline_exceeded"} 5',
    ]);
  });
});
