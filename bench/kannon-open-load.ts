/**
 * Open-model child: one Kannon driver runs an arrival rate of RATE req/s for DURATION_MS against a
 * URL and prints a {@link LoadResult} with its dropped and late counts and the connections it
 * opened. Latency counts from each request's scheduled start (coordinated omission corrected), as
 * wrk2's does. Usage: node --import tsx bench/kannon-open-load.ts URL RATE DURATION_MS [THREADS] [MAX_IN_FLIGHT]
 */
import { create } from "@bufbuild/protobuf";
import { ArrivalRateSchema } from "../gen/kannon/v1/test_pb.js";
import { MetricsAccumulator, msOf } from "../metrics/stats.js";
import { cpuSince, printResult } from "./load-result.js";
import { runSoloAvalanche } from "./solo-driver.js";

const [url, rateArg, durationArg, threadsArg, capArg] = process.argv.slice(2);
if (!url || !rateArg || !durationArg) {
  console.error("usage: kannon-open-load.ts URL RATE DURATION_MS [THREADS] [MAX_IN_FLIGHT]");
  process.exit(2);
}
const ratePerS = Number(rateArg);
const durationMs = Number(durationArg);
const threads = Number(threadsArg ?? 1);
const maxInFlight = Number(capArg ?? 0);

const total = new MetricsAccumulator();
// Interval 0 apart from the ones after it: the generator's start against its steady state.
const first = new MetricsAccumulator();
const later = new MetricsAccumulator();
let lastEndMs = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
const result = await runSoloAvalanche({
  url,
  concurrency: 0,
  durationMs,
  reportIntervalMs: 1000,
  threads,
  workload: { case: "arrivalRate", value: create(ArrivalRateSchema, { ratePerS, durationMs, maxInFlight }) },
  onStartAt: (startAtMs) => {
    setTimeout(() => (cpuStart = process.cpuUsage()), Math.max(0, startAtMs - Date.now()));
  },
  onMetrics: (m) => {
    (m.seq === 0n ? first : later).add(m);
    total.add(m);
    if (m.intervalEnd) lastEndMs = Math.max(lastEndMs, msOf(m.intervalEnd));
  },
});
const cpuS = cpuStart ? cpuSince(cpuStart) : 0;
if (result.error) console.error(`kannon-open-load: the driver reported: ${result.error}`);
// The rate over the schedule's own window (the final interval also holds the drain after it).
const stats = total.toStats({ startMs: result.startAtMs, endMs: result.startAtMs + durationMs });
const p50Of = (a: MetricsAccumulator) => Number(a.toStats().latency?.p50Us ?? 0n) / 1000;
printResult({
  requests: total.requests,
  errors: total.errors,
  durationS: durationMs / 1000,
  reqPerS: total.requests / (durationMs / 1000),
  p50Ms: Number(stats.latency?.p50Us ?? 0n) / 1000,
  p99Ms: Number(stats.latency?.p99Us ?? 0n) / 1000,
  cpuS,
  dropped: total.dropped,
  late: total.late,
  firstInterval: { p50Ms: p50Of(first), dropped: first.dropped, laterP50Ms: p50Of(later) },
  note: `${first.dropped} dropped in the first interval (1 s)${threads > 1 ? `, ${threads} load threads` : ""}; drain ended ${Math.max(0, lastEndMs - result.startAtMs - durationMs).toFixed(0)} ms after the schedule`,
});
