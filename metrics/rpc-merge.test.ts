import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { snapshotFields } from "../driver/agent/snapshot-fields.js";
import { mergeSnapshots } from "../driver/load/merge-snapshots.js";
import { ScenarioRecorder } from "../driver/scenario/scenario-recorder.js";
import { createLatencyHistogram, recordUs } from "./histogram.js";
import { latencyStats, timestampAt } from "./stats.js";
import { decodeRun, RunAccumulator, type ScenarioLayout } from "./step-stats.js";

const CODES = ["ok", "ok", "ok", "unavailable", "deadline_exceeded", "not_found"];
const LAYOUT: ScenarioLayout = { steps: [{ scenario: "s", step: "unary", checks: [] }, { scenario: "s", step: "stream", checks: [] }], scenarios: ["s"] };

/** One call as a transport reports it. */
interface Call {
  step: number;
  code: string;
  latencyMs: number;
  messages: number;
  firstMs: number;
  h2: boolean;
}

/** Deterministic calls: step 1 streams (messages, first message), step 0 is unary. */
function calls(seed: number, n: number): Call[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () => {
    const step = next() < 0.5 ? 0 : 1;
    const messages = step === 1 ? Math.floor(next() * 5) : 0;
    return { step, code: CODES[Math.floor(next() * CODES.length)]!, latencyMs: 1 + next() * 40, messages, firstMs: messages > 0 ? next() : Number.NaN, h2: next() < 0.7 };
  });
}

describe("RPC numbers merged across threads and drivers", () => {
  it("code, protocol, handshake, first-message and message counts in Stats equal those of every call, per step too", () => {
    const drivers = [0, 1].map((d) => {
      const threads = [0, 1].map((t) => ({ recorder: new ScenarioRecorder(false, { steps: [[], []], scenarios: 1 }), calls: calls(7 + d * 10 + t, 150 + 40 * t) }));
      for (const { recorder, calls: cs } of threads) {
        for (const c of cs) {
          recorder.rpc(c.step, c.code, 8, 1000, 1000, 1000 + c.latencyMs, c.messages, 1000 + c.firstMs);
          if (c.h2) recorder.protocol(c.step, "h2");
        }
        recorder.handshake(1 + d);
      }
      const snapshot = mergeSnapshots(threads.map((t) => t.recorder.take()));
      const message = create(MetricsMessageSchema, { testId: "t", driverId: `d${d}`, intervalStart: timestampAt(0), intervalEnd: timestampAt(2000), ...snapshotFields(snapshot) });
      return { message, calls: threads.flatMap((t) => t.calls) };
    });
    const run = new RunAccumulator(LAYOUT);
    for (const { message } of drivers) run.addDecoded(message, decodeRun(message, LAYOUT));
    const stats = run.toStats({ withHistogram: true });

    const all = drivers.flatMap((d) => d.calls);
    const tally = (cs: Call[], key: (c: Call) => string | undefined) => {
      const out: Record<string, bigint> = {};
      for (const c of cs) {
        const k = key(c);
        if (k !== undefined) out[k] = (out[k] ?? 0n) + 1n;
      }
      return out;
    };
    expect(stats.requests).toBe(BigInt(all.length));
    expect(stats.codeCounts).toEqual(tally(all, (c) => c.code));
    expect(stats.errorCounts).toEqual(tally(all, (c) => (c.code === "ok" ? undefined : `rpc_${c.code}`)));
    expect(stats.errors).toBe(BigInt(all.filter((c) => c.code !== "ok").length));
    expect(stats.statusCounts).toEqual({});
    expect(stats.protocolCounts).toEqual(tally(all, (c) => (c.h2 ? "h2" : "http/1.1")));
    const messages = all.reduce((n, c) => n + c.messages, 0);
    expect(stats.messagesReceived).toBe(BigInt(messages));
    expect(stats.messagesPerS).toBe(messages / 2);
    // Histograms: exactly those of every sample (hdr-histogram-js over the raw samples).
    const first = createLatencyHistogram();
    for (const c of all) if (c.messages > 0) recordUs(first, c.firstMs * 1000);
    const { histogram: _f, ...firstWanted } = latencyStats(first, false);
    expect({ ...stats.firstMessage, histogram: new Uint8Array(0) }).toEqual({ ...firstWanted, histogram: new Uint8Array(0) });
    expect([stats.handshake?.count, stats.handshake?.minUs, stats.handshake?.maxUs]).toEqual([4n, 1000n, 2000n]);
    const failed = createLatencyHistogram();
    for (const c of all) if (c.code !== "ok") recordUs(failed, c.latencyMs * 1000);
    expect(stats.failedLatency?.p99Us).toBe(latencyStats(failed, false).p99Us);

    // Per step: its own codes and stream numbers (protocols and handshakes are the totals').
    for (const step of [0, 1]) {
      const s = stats.steps.find((st) => st.stepIndex === step)!.stats!;
      const mine = all.filter((c) => c.step === step);
      expect(s.codeCounts).toEqual(tally(mine, (c) => c.code));
      expect(s.messagesReceived).toBe(BigInt(mine.reduce((n, c) => n + c.messages, 0)));
      expect(s.firstMessage?.count ?? 0n).toBe(BigInt(mine.filter((c) => c.messages > 0).length));
      expect(s.protocolCounts).toEqual({});
      expect(s.handshake).toBeUndefined();
    }

    // A stored interval (histograms embedded) adds back to the same numbers.
    const again = new RunAccumulator(LAYOUT);
    again.addStats(stats);
    const rpcNumbers = (x: Stats) => [x.codeCounts, x.protocolCounts, x.messagesReceived, x.handshake, x.firstMessage];
    expect(rpcNumbers(again.toStats({ withHistogram: true }))).toEqual(rpcNumbers(stats));
    // And accumulators add up as the messages do.
    const sum = new RunAccumulator(LAYOUT);
    for (const { message } of drivers) {
      const one = new RunAccumulator(LAYOUT);
      one.addDecoded(message, decodeRun(message, LAYOUT));
      sum.addAll(one);
    }
    expect(rpcNumbers(sum.toStats({ withHistogram: true }))).toEqual(rpcNumbers(stats));
  });

  it("a test without RPCs, TLS or streams has none of their numbers, and its responses are http/1.1", () => {
    const recorder = new ScenarioRecorder(false, { steps: [[], []], scenarios: 1 });
    recorder.response(0, 200, 1, 0, 0, 1);
    recorder.error(1, "timeout", 0, 0, 1);
    const message = create(MetricsMessageSchema, { testId: "t", driverId: "d", ...snapshotFields(recorder.take()) });
    const run = new RunAccumulator(LAYOUT);
    run.addDecoded(message, decodeRun(message, LAYOUT));
    const stats = run.toStats();
    expect([stats.codeCounts, stats.protocolCounts, stats.messagesReceived, stats.handshake, stats.firstMessage]).toEqual([{}, { "http/1.1": 1n }, 0n, undefined, undefined]);
  });
});
