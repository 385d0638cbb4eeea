/**
 * TestSpec.thresholds through the orchestrator's API: CreateTest refuses bad ones (every problem,
 * invalid_argument, nothing stored); a test created through the API is judged by the orchestrator,
 * a window's breach cancels it when abort_on_fail says so, and the stored report says which
 * thresholds passed or failed with the measured value. In-process bus, a fake driver.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { heartbeat, registerAll } from "../test/fake-fleet.js";
import { spec, until } from "../test/helpers.js";
import { DomainError } from "./errors.js";
import { Orchestrator } from "./orchestrator.js";

const workload = { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 60_000 } } } as const;
const scenarios = () => [{ name: "shop", weight: 1, steps: [{ name: "login", url: "/login" }, { name: "item", url: "/items/1", checks: [{ name: "ok", kind: { case: "status" as const, value: { codes: [200] } } }] }] }];

const histogramOf = (us: number[]) => {
  const h = createLatencyHistogram();
  for (const v of us) recordUs(h, v);
  return h;
};
/** 50 samples from `base` µs up. */
const fifty = (base: number) => Array.from({ length: 50 }, (_, i) => base + i * 10);

/** Closes what a test opened (an orchestrator, its in-process bus, its directory), last opened first. */
const opened: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

/** An orchestrator over a fresh in-process bus in a temporary directory. */
async function orchestrator(): Promise<{ o: Orchestrator; transport: ReturnType<typeof createMemoryTransport> }> {
  const dir = await mkdtemp(join(tmpdir(), "kannon-thresholds-api-"));
  opened.push(() => rm(dir, { recursive: true, force: true }));
  const transport = createMemoryTransport();
  opened.push(() => transport.close());
  const o = await Orchestrator.open({ bus: createBus(transport, { log: () => {} }), dataDir: dir, log: () => {} });
  opened.push(() => o.close());
  return { o, transport };
}

describe("thresholds through the API", () => {
  it("CreateTest refuses thresholds the test cannot have, every one at once, as invalid_argument; nothing is stored", async () => {
    const { o } = await orchestrator();
    const bad = spec({
      targetUrl: "http://127.0.0.1:9/",
      workload,
      scenarios: scenarios(),
      thresholds: ["p99{step:pay}<1s", "checks{name:has-token}>99%", "p99[500ms]<1s", "p98<1s", "error_rate{scenario:shop}<1%", "error_rate{code:Unavailable}<1%"],
    });
    let err: unknown;
    try {
      o.createTest(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe("invalid_argument");
    expect((err as DomainError).message).toBe(
      [
        `spec.thresholds[0] "p99{step:pay}<1s": the test has no step "pay" (steps: "login", "item")`,
        `spec.thresholds[1] "checks{name:has-token}>99%": the test has no check "has-token" (checks: "ok")`,
        `spec.thresholds[2] "p99[500ms]<1s": the window 500 ms is shorter than the report interval (1000 ms)`,
        `spec.thresholds[3] "p98<1s": unknown statistic "p98" (one of p50, p90, p95, p99, p99.9, max, mean, error_rate, checks, errors, requests, rps)`,
        `spec.thresholds[5] "error_rate{code:Unavailable}<1%": code:Unavailable is not an RPC code (one of ok, canceled, unknown, invalid_argument, deadline_exceeded, not_found, already_exists, permission_denied, resource_exhausted, failed_precondition, aborted, out_of_range, unimplemented, internal, unavailable, data_loss, unauthenticated)`,
      ].join("; "),
    );
    let abort: unknown;
    try {
      o.createTest(spec({ targetUrl: "http://127.0.0.1:9/", workload, abortOnFail: true }));
    } catch (e) {
      abort = e;
    }
    expect((abort as DomainError).message).toBe("spec.abort_on_fail needs at least one threshold (spec.thresholds) to abort on");
    expect(o.listTests().items).toEqual([]);
  });

  it("a window's breach cancels a test created with abort_on_fail; the stored report names each threshold's verdict, value and window", async () => {
    const { o, transport } = await orchestrator();
    await registerAll(transport, ["d1"]);
    await transport.send([heartbeat("d1")]);
    await until(() => o.fleet.ready().length === 1, 5000, "d1 to be READY");
    const s = spec({
      targetUrl: "http://127.0.0.1:9/",
      workload,
      scenarios: scenarios(),
      thresholds: ["p99{step:login}[2s]<50ms", "p99{step:item}<50ms", "checks{name:ok}>=100%"],
      abortOnFail: true,
    });
    const test = await o.startTest(o.createTest(s).id);
    const startMs = msOf(test.startAt!);
    // login: 100 ms in interval 1, else 5 ms; item: 3 ms throughout, its check passing.
    const login = [fifty(5000), fifty(100_000), fifty(5000), fifty(5000)];
    const item = fifty(3000);
    const message = (k: number, final = false) =>
      create(MetricsMessageSchema, {
        testId: test.id, driverId: "d1", seq: BigInt(k), attempt: test.startAttempt, final,
        intervalStart: timestampAt(startMs + k * 1000), intervalEnd: timestampAt(startMs + (k + 1) * 1000),
        requests: 100n, statusCounts: { 200: 100n }, latencyHistogram: encodeHistogram(histogramOf([...login[k]!, ...item])),
        steps: [
          { stepIndex: 0, requests: 50n, statusCounts: { 200: 50n }, latencyHistogram: encodeHistogram(histogramOf(login[k]!)) },
          { stepIndex: 1, requests: 50n, statusCounts: { 200: 50n }, latencyHistogram: encodeHistogram(histogramOf(item)), checks: [{ passed: 50n, failed: 0n }] },
        ],
      });
    const send = (...ms: ReturnType<typeof message>[]) => transport.send(ms.map((x) => ({ topic: "metrics", key: "d1", value: toBinary(MetricsMessageSchema, x) })));
    await send(message(0), message(1), message(2));
    // Interval 1 is emitted once the driver is past it: the window 0–2 s breaches, the test is cancelled.
    await until(() => o.getTest(test.id).cancelRequested, 5000, "the breach to cancel the test");
    await send(message(3, true));
    await until(() => o.getTest(test.id).state === TestState.CANCELLED, 10_000, "the test to end");

    const window = histogramOf([...login[0]!, ...login[1]!]).getValueAtPercentile(99);
    const report = o.getReport(test.id);
    const message0 = `threshold p99{step:login}[2s]<50ms breached: ${(window / 1000).toFixed(2)} ms over the window 0.0 s–2.0 s`;
    expect(report.message).toBe(`aborted (abort_on_fail): ${message0}`);
    expect(report.outcome!.verdict).toBe(Verdict.FAILING);
    const [w, itemP99, checks] = report.outcome!.thresholds;
    expect(w).toMatchObject({ threshold: "p99{step:login}[2s]<50ms", passed: false, breachedLive: true, measured: window, unit: "us", limit: 50_000, windowMs: 2000, windowFromMs: 0n, windowToMs: 2000n });
    expect(itemP99).toMatchObject({ threshold: "p99{step:item}<50ms", passed: true, measured: histogramOf([...item, ...item, ...item, ...item]).getValueAtPercentile(99), windowMs: 0 });
    expect(checks).toMatchObject({ passed: true, measured: 1, unit: "fraction" });
    expect(report.outcome!.reasons).toContain(`threshold p99{step:login}[2s]<50ms failed: ${(window / 1000).toFixed(2)} ms over the window 0.0 s–2.0 s`);
    // The stored test says the same.
    expect(o.getTest(test.id).outcome!.thresholds.map((t) => t.passed)).toEqual([false, true, true]);
  });
});
