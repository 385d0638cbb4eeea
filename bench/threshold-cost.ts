/**
 * What judging thresholds costs the orchestrator's merge, in one process (no broker): LiveTest
 * applies 1,000 drivers × 5 steps × INTERVALS intervals of pre-built metrics messages, with no
 * threshold and with 10 sliding windows (issue 21's speed goal), and the CPU time of each is
 * compared. The merge alone is a part of the orchestrator's work per message (Kafka, protobuf
 * decoding and the store come on top), so the share measured here is an upper bound on what the
 * thresholds add to the orchestrator's CPU in `npm run bench -- fleet`.
 *
 *   node --import tsx bench/threshold-cost.ts [DRIVERS] [INTERVALS]
 */
import { create } from "@bufbuild/protobuf";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { timestampAt } from "../metrics/stats.js";
import { decodeRun, RunAccumulator, scenarioLayout } from "../metrics/step-stats.js";
import { LiveTest } from "../orchestrator/live-test.js";
import { ThresholdJudge } from "../orchestrator/threshold-judge.js";

const DRIVERS = Number(process.argv[2] ?? 1000);
const INTERVALS = Number(process.argv[3] ?? 20);
const STEPS = 5;
const START_MS = Date.now();
const THRESHOLDS = Array.from({ length: 10 }, (_, i) => `p99{step:step${(i % STEPS) + 1}}[${5 + i}s]<60s`);

let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
/** One encoded histogram of 140 latencies from 0.5 to ~60 ms (a bench driver's step in one second). */
function histogram(): Uint8Array {
  const h = createLatencyHistogram();
  for (let i = 0; i < 140; i++) recordUs(h, 500 + Math.floor(rand() ** 3 * 60_000));
  return encodeHistogram(h);
}
/** A handful of variants, reused: encoding 100,000 histograms would dominate the setup. */
const variants = Array.from({ length: 16 }, () => ({ total: histogram(), steps: Array.from({ length: STEPS }, histogram) }));

function message(driver: number, k: number): MetricsMessage {
  const v = variants[(driver + k) % variants.length]!;
  return create(MetricsMessageSchema, {
    testId: "t", driverId: `d${driver}`, seq: BigInt(k), final: k === INTERVALS - 1,
    intervalStart: timestampAt(START_MS + k * 1000), intervalEnd: timestampAt(START_MS + (k + 1) * 1000),
    requests: 700n, statusCounts: { 200: 700n }, latencyHistogram: v.total,
    steps: v.steps.map((h, s) => ({ stepIndex: s, requests: 140n, statusCounts: { 200: 140n }, latencyHistogram: h, checks: [{ passed: 140n, failed: 0n }] })),
  });
}

function testOf(thresholds: string[]) {
  return create(TestSchema, {
      id: "t",
      state: TestState.RUNNING,
      driverIds: Array.from({ length: DRIVERS }, (_, d) => `d${d}`),
      startAt: timestampAt(START_MS),
      spec: {
        reportIntervalMs: 1000,
        targetUrl: "http://127.0.0.1:9/",
        workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: INTERVALS * 1000 } } },
        scenarios: [{ name: "flow", weight: 1, steps: Array.from({ length: STEPS }, (_, j) => ({ name: `step${j + 1}`, url: `/s${j + 1}`, checks: [{ name: "ok" }] })) }],
        thresholds,
      },
    });
}

function run(thresholds: string[], messages: MetricsMessage[][]): number {
  const live = new LiveTest(testOf(thresholds));
  const cpu = process.cpuUsage();
  for (const interval of messages) for (const m of interval) live.apply(m);
  const used = process.cpuUsage(cpu);
  if (live.intervalCount < messages.length - 1) throw new Error(`emitted ${live.intervalCount} of ${messages.length} intervals`);
  return (used.user + used.system) / 1000;
}

const messages = Array.from({ length: INTERVALS }, (_, k) => Array.from({ length: DRIVERS }, (_, d) => message(d, k)));
run([], messages.slice(0, 2)); // warm up the JIT on a short run
const rows: [string, number][] = [];
for (let round = 0; round < 3; round++) {
  rows.push(["none", run([], messages)]);
  rows.push(["10 windows", run(THRESHOLDS, messages)]);
}
const best = (label: string) => Math.min(...rows.filter(([l]) => l === label).map(([, ms]) => ms));
const none = best("none");
const windows = best("10 windows");
console.log(`threshold cost: ${DRIVERS} drivers × ${STEPS} steps × ${INTERVALS} intervals; CPU ms of LiveTest.apply, best of 3`);
console.log(`  no threshold: ${none.toFixed(0)} ms; 10 windows (${THRESHOLDS.join(", ")}): ${windows.toFixed(0)} ms; +${(((windows - none) / none) * 100).toFixed(1)} %`);
console.log(`  per interval: judging adds ${((windows - none) / INTERVALS).toFixed(2)} ms to a merge of ${(none / INTERVALS).toFixed(1)} ms`);

// The judging alone: each interval's merge built first (not timed), then judged as LiveTest does.
const spec = testOf(THRESHOLDS).spec!;
const layout = scenarioLayout(spec);
const accs = messages.map((interval) => {
  const acc = new RunAccumulator(layout);
  for (const m of interval) acc.addDecoded(m, decodeRun(m, layout));
  return acc;
});
const judgeMs: number[] = [];
for (let round = 0; round < 3; round++) {
  const judge = new ThresholdJudge(spec, layout, 1000);
  const cumulative = new RunAccumulator(layout);
  const cpu = process.cpuUsage();
  accs.forEach((acc, k) => {
    cumulative.addAll(acc);
    judge.interval(k, acc, cumulative, START_MS, START_MS + (k + 1) * 1000);
    judge.results(cumulative, START_MS, START_MS + (k + 1) * 1000, false, false);
  });
  const used = process.cpuUsage(cpu);
  judgeMs.push((used.user + used.system) / 1000);
}
console.log(`  judging alone (with the cumulative merge it needs): ${(Math.min(...judgeMs) / INTERVALS).toFixed(2)} ms per interval, ${((Math.min(...judgeMs) / none) * 100).toFixed(1)} % of the merge's CPU`);
