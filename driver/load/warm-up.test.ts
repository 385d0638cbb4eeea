/**
 * The load thread's warm-up must end within its budget whatever the test's request shape: the
 * part's start waits for it. With pipelining its throwaway server answered one request per read,
 * and a warm-up with a 200 ms budget took ~2.5 s.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HttpOptionsSchema, HttpVersion } from "../../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { warmUp } from "./warm-up.js";

const avalanche = (pipelining: number, method = "GET"): TestSpec =>
  create(TestSpecSchema, {
    targetUrl: "http://127.0.0.1:9/never-used",
    method,
    workload: { case: "avalanche", value: { concurrency: 40, pipelining, limit: { case: "requestsPerDriver", value: 1000n } } },
  });

describe("warm-up", () => {
  for (const [name, spec] of [
    ["pipelining 10", avalanche(10)],
    ["pipelining 10, POST with a body", create(TestSpecSchema, { ...avalanche(10, "POST"), body: new TextEncoder().encode("payload") })],
    ["HEAD", avalanche(1, "HEAD")],
    ["HTTP/2, 4 connections × 10 streams", create(TestSpecSchema, { ...avalanche(1), http: create(HttpOptionsSchema, { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 10, connections: 4 }) })],
    ["tsunami", create(TestSpecSchema, { targetUrl: "http://127.0.0.1:9/", workload: { case: "tsunami", value: { delayMs: 1, limit: { case: "durationMs", value: 1000 } } } })],
  ] as const) {
    for (const kind of ["fast", "undici"] as const) {
      it(`${name} over ${kind} ends within its 200 ms budget (plus slack for a busy machine)`, async () => {
        const started = performance.now();
        await warmUp(spec, kind, 200);
        expect(performance.now() - started).toBeLessThan(900);
      });
    }
  }
});
