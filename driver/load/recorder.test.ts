import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TestSpecSchema } from "../../gen/kannon/v1/test_pb.js";
import { decodeHistogram } from "../../metrics/histogram.js";
import { compileScenarios } from "../../scenario/compile.js";
import { OneStepOutcomes } from "../scenario/one-step.js";
import { ScenarioRecorder } from "../scenario/scenario-recorder.js";
import { mergeSnapshots } from "./merge-snapshots.js";
import { IntervalRecorder } from "./recorder.js";

/** The values recorded in an encoded histogram, one per sample (µs, at the histogram's precision). */
function samples(encoded: Uint8Array): number[] {
  if (encoded.length === 0) return [];
  const h = decodeHistogram(encoded);
  const out: number[] = [];
  const it = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number; valueFromIndex(i: number): number };
  for (let i = 0; i < it.countsArrayLength; i++) for (let c = it.getCountAtIndex(i); c > 0; c--) out.push(it.valueFromIndex(i));
  return out;
}

describe("IntervalRecorder RPC outcomes", () => {
  it("counts codes (ok included), a failing code once as error kind rpc_CODE with its latency in the failed histogram, and no HTTP status", () => {
    const r = new IntervalRecorder(false);
    r.rpc("ok", 10, 0, 1000, 1002, 1, Number.NaN);
    r.rpc("ok", 10, 0, 1000, 1003, 1, Number.NaN);
    r.rpc("unavailable", 0, 0, 1000, 1007, 0, Number.NaN);
    r.rpc("deadline_exceeded", 0, 0, 1000, 1011, 0, Number.NaN);
    r.response(503, 4, 0, 1000, 1013);
    r.error("connect_refused", 0, 1000, 1016);
    const s = r.take();
    expect(s.requests).toBe(6);
    expect(s.bytesReceived).toBe(24);
    expect(s.codeCounts).toEqual(new Map([["ok", 2], ["unavailable", 1], ["deadline_exceeded", 1]]));
    expect(s.errorCounts).toEqual(new Map([["rpc_unavailable", 1], ["rpc_deadline_exceeded", 1], ["connect_refused", 1]]));
    // Only the plain HTTP response has a status: the RPCs' are not counted.
    expect(s.statusCounts).toEqual(new Map([[503, 1]]));
    expect(samples(s.latencyHistogram)).toEqual([2000, 3000]);
    // Failed: two RPC codes, the 503 and the refused connection, each once.
    expect(samples(s.failedLatencyHistogram)).toEqual([7000, 11000, 13000, 16000]);
    // Unary calls: no stream numbers.
    expect([s.messagesReceived, s.firstMessageHistogram.length]).toEqual([2, 0]);
  });

  it("times a stream's first message from the send and counts its messages", () => {
    const r = new IntervalRecorder(true);
    r.rpc("ok", 30, 992, 1000, 1048, 5, 1004);
    r.rpc("ok", 0, 1000, 1000, 1020, 0, Number.NaN);
    r.rpc("internal", 6, 1000, 1001, 1030, 1, 1010);
    const s = r.take();
    expect(s.messagesReceived).toBe(6);
    expect(samples(s.firstMessageHistogram)).toEqual([4000, 9000]);
    // Scheduled: latency from the scheduled start, service time from the send.
    expect(samples(s.latencyHistogram)).toEqual([20000, 56000]);
    expect(samples(s.serviceTimeHistogram)).toEqual([20000, 48000]);
  });

  it("counts every response under its protocol (http/1.1 unless named), and TLS handshakes", () => {
    const r = new IntervalRecorder(false);
    r.response(200, 0, 0, 0, 1);
    r.response(200, 0, 0, 0, 1);
    r.protocol("h2");
    r.rpc("ok", 0, 0, 0, 1, 1, Number.NaN);
    r.protocol("h2");
    r.response(200, 0, 0, 0, 1);
    r.protocol("http/1.1");
    r.error("tls_verify", 0, 0, 1);
    r.handshake(1.5);
    r.handshake(3);
    const s = r.take();
    expect(s.protocolCounts).toEqual(new Map([["http/1.1", 2], ["h2", 2]]));
    expect(samples(s.handshakeHistogram)).toEqual([1500, 3000]);
  });

  it("starts each interval empty and ignores outcomes once closed", () => {
    const r = new IntervalRecorder(false);
    r.rpc("aborted", 0, 0, 0, 1, 2, 0.5);
    r.protocol("h2");
    r.handshake(1);
    r.take();
    const next = r.take();
    expect([next.requests, next.codeCounts.size, next.protocolCounts.size, next.errorCounts.size, next.messagesReceived]).toEqual([0, 0, 0, 0, 0]);
    expect([next.handshakeHistogram.length, next.firstMessageHistogram.length]).toEqual([0, 0]);
    r.closed = true;
    r.rpc("ok", 0, 0, 0, 1, 1, 0.5);
    r.protocol("h2");
    r.handshake(1);
    const closed = r.take();
    expect([closed.requests, closed.codeCounts.size, closed.protocolCounts.size, closed.handshakeHistogram.length]).toEqual([0, 0, 0, 0]);
  });
});

describe("ScenarioRecorder and OneStepOutcomes RPC outcomes", () => {
  it("counts a step's RPC in the step and the totals, protocols and handshakes in the totals only", () => {
    const r = new ScenarioRecorder(false, { steps: [[], []], scenarios: 1 });
    r.rpc(1, "ok", 5, 0, 0, 2, 3, 1);
    r.protocol(1, "h2");
    r.rpc(1, "not_found", 0, 0, 0, 4, 0, Number.NaN);
    r.response(0, 200, 1, 0, 0, 1);
    r.handshake(2);
    const s = r.take();
    expect(s.codeCounts).toEqual(new Map([["ok", 1], ["not_found", 1]]));
    expect(s.protocolCounts).toEqual(new Map([["http/1.1", 2], ["h2", 1]]));
    expect(samples(s.handshakeHistogram)).toEqual([2000]);
    const step = s.steps!.find((st) => st.stepIndex === 1)!.counts;
    expect(step.codeCounts).toEqual(new Map([["ok", 1], ["not_found", 1]]));
    expect(step.errorCounts).toEqual(new Map([["rpc_not_found", 1]]));
    expect([step.messagesReceived, samples(step.firstMessageHistogram)]).toEqual([3, [1000]]);
    expect(samples(step.failedLatencyHistogram)).toEqual([4000]);
  });

  it("a one-step test's RPCs: totals, the derived step, and checks on latency", () => {
    const spec = create(TestSpecSchema, {
      targetUrl: "http://127.0.0.1:1",
      scenarios: [{ name: "a", steps: [{ name: "call", url: "/x", checks: [{ name: "fast", kind: { case: "latencyBelowMs", value: 5 } }] }] }],
    });
    const step = compileScenarios(spec, () => undefined).scenarios[0]!.steps[0]!;
    const r = new ScenarioRecorder(false, { steps: [["fast"]], scenarios: 1 });
    const outcomes = new OneStepOutcomes(step, r, false);
    outcomes.rpc("ok", 1, 0, 0, 2, 1, Number.NaN);
    outcomes.protocol("h2");
    outcomes.rpc("unavailable", 1, 0, 0, 9, 0, Number.NaN);
    outcomes.handshake(1);
    const s = r.take();
    expect(s.codeCounts).toEqual(new Map([["ok", 1], ["unavailable", 1]]));
    expect(s.protocolCounts).toEqual(new Map([["http/1.1", 1], ["h2", 1]]));
    const derived = s.steps![0]!;
    expect(derived.counts.codeCounts).toEqual(new Map([["ok", 1], ["unavailable", 1]]));
    expect(derived.counts.errorCounts).toEqual(new Map([["rpc_unavailable", 1]]));
    // Protocols and handshakes are the totals' only.
    expect([derived.counts.protocolCounts.size, derived.counts.handshakeHistogram.length]).toEqual([0, 0]);
    expect(derived.checks).toEqual([{ name: "fast", passed: 1, failed: 1 }]);
    expect(s.scenarios!.map((sc) => sc.iterations)).toEqual([2]);
  });

  it("merges threads' RPC numbers exactly", () => {
    const parts = [new IntervalRecorder(false), new IntervalRecorder(false), new IntervalRecorder(false)];
    parts[0]!.rpc("ok", 1, 0, 0, 2, 4, 1);
    parts[0]!.protocol("h2");
    parts[1]!.rpc("ok", 1, 0, 0, 3, 2, 2);
    parts[1]!.rpc("unavailable", 1, 0, 0, 5, 0, Number.NaN);
    parts[1]!.handshake(7);
    parts[2]!.response(200, 1, 0, 0, 1);
    const merged = mergeSnapshots(parts.map((p) => p.take()));
    expect(merged.codeCounts).toEqual(new Map([["ok", 2], ["unavailable", 1]]));
    expect(merged.errorCounts).toEqual(new Map([["rpc_unavailable", 1]]));
    expect(merged.protocolCounts).toEqual(new Map([["h2", 1], ["http/1.1", 3]]));
    expect(merged.messagesReceived).toBe(6);
    expect(samples(merged.firstMessageHistogram)).toEqual([1000, 2000]);
    expect(samples(merged.handshakeHistogram)).toEqual([7000]);
    expect(samples(merged.failedLatencyHistogram)).toEqual([5000]);
  });
});
