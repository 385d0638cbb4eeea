/**
 * The data-plane vectors of scenario tests (issue 20), beside scripts/test-vector-catalogue.ts: a
 * test_config with scenarios and data files, and a metrics interval with per-step and per-scenario
 * blocks. Nested maps hold one entry each (Python's upb backend writes integer keys descending,
 * and the Python vector test reorders top-level maps only); nested histograms are left empty (the
 * manifest describes top-level histogram fields).
 */
import { create } from "@bufbuild/protobuf";
import { MetricsMessageSchema, TestConfigMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import {
  CaptureMissing,
  DataFormat,
  DataOrder,
  DataSplit,
  HeaderOp,
  JsonPathOp,
  OnExhausted,
} from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { at, utf8Ordered, vector, type VectorDef } from "./test-vector-catalogue.js";

/** The scenario vectors, in manifest order after the catalogue's. */
export const SCENARIO_VECTORS: VectorDef[] = [
  vector({
    name: "test_config_scenarios",
    description: "a weighted login → item flow with a CSV data file, captures, every kind of check and think time, beside a read-only scenario",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0020",
        driverIds: ["driver-1", "driver-2", "driver-3"],
        attempt: 1,
        spec: create(TestSpecSchema, {
          name: "shop flow",
          targetUrl: "http://127.0.0.1:8080",
          workload: { case: "arrivalRate", value: { ratePerS: 30, durationMs: 60_000 } },
          dataFiles: [
            {
              name: "users.csv",
              format: DataFormat.CSV,
              content: 'user,password\nann,"s3cr,et"\nbo,pw\n',
              order: DataOrder.SHUFFLE,
              split: DataSplit.EXCLUSIVE,
              onExhausted: OnExhausted.STOP,
              source: "examples/users.csv",
            },
          ],
          scenarios: [
            {
              name: "buy",
              weight: 3,
              dataFile: "users.csv",
              steps: [
                {
                  name: "login",
                  method: "POST",
                  url: "/login",
                  headers: utf8Ordered({ "content-type": "application/json" }),
                  body: '{"user":"{{row.user}}","password":"{{row.password}}"}',
                  captures: [
                    { name: "token", source: { case: "jsonPath", value: "$.token" } },
                    { name: "session", source: { case: "header", value: "x-session" } },
                    { name: "uid", source: { case: "regex", value: { pattern: '"uid":(\\d+)', group: 1 } } },
                  ],
                  checks: [
                    { name: "ok", kind: { case: "status", value: { codes: [200], ranges: [{ first: 200, last: 299 }] } } },
                    { name: "has-token", kind: { case: "jsonPath", value: { path: "$.token", op: JsonPathOp.EXISTS } } },
                    { name: "fast", kind: { case: "latencyBelowMs", value: 500 } },
                  ],
                  abortIterationOnFail: true,
                  onCaptureMissing: CaptureMissing.ABORT_ITERATION,
                  thinkTime: { kind: { case: "uniform", value: { minMs: 100, maxMs: 300 } } },
                },
                {
                  name: "item",
                  url: "/items/{{randInt 1 100}}",
                  headers: utf8Ordered({ authorization: "Bearer {{token}}" }),
                  checks: [
                    { name: "json", kind: { case: "header", value: { name: "content-type", op: HeaderOp.MATCHES, value: "^application/json" } } },
                    { name: "priced", kind: { case: "jsonPath", value: { path: "$.price", op: JsonPathOp.GREATER, value: "0" } } },
                    { name: "named", kind: { case: "bodyContains", value: "\"name\"" } },
                  ],
                  thinkTime: { kind: { case: "constantMs", value: 250 } },
                },
              ],
            },
            { name: "browse", weight: 1, steps: [{ name: "search", url: "/search?q={{uuid}}&d={{driverId}}&i={{iteration}}&t={{nowMs}}" }] },
          ],
        }),
      }),
  }),
  vector({
    name: "metrics_scenario_steps",
    description: "an interval of a scenario test: per-step counts, checks and missing captures, per-scenario iterations",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0020",
        driverId: "driver-2",
        seq: 7n,
        attempt: 1,
        intervalStart: at(7_000),
        intervalEnd: at(8_000),
        requests: 25n,
        statusCounts: { 200: 24n },
        errorCounts: { timeout: 1n },
        bytesReceived: 10_240n,
        latencyHistogram: h("latency_histogram", { seed: 20, n: 24, shape: "latency" }),
        failedLatencyHistogram: h("failed_latency_histogram", { seed: 21, n: 1, shape: "latency" }),
        steps: [
          {
            stepIndex: 0,
            requests: 10n,
            statusCounts: { 200: 9n },
            errorCounts: { timeout: 1n },
            bytesReceived: 4096n,
            checks: [
              { name: "ok", passed: 9n, failed: 0n },
              { name: "has-token", passed: 8n, failed: 1n },
              { name: "fast", passed: 9n, failed: 0n },
            ],
            captureMissing: 1n,
            abortedIterations: 1n,
          },
          {
            stepIndex: 1,
            requests: 8n,
            statusCounts: { 200: 8n },
            bytesReceived: 3072n,
            checks: [{ name: "json", passed: 8n }, { name: "priced", passed: 7n, failed: 1n }, { name: "named", passed: 8n }],
          },
          { stepIndex: 2, requests: 7n, statusCounts: { 200: 7n }, bytesReceived: 3072n },
        ],
        scenarios: [
          { scenarioIndex: 0, iterations: 9n, aborted: 1n },
          { scenarioIndex: 1, iterations: 7n },
        ],
      }),
  }),
];
