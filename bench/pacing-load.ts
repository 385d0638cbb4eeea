/**
 * Pacing child: one Kannon driver runs a tsunami (one request every 1000/RATE ms) or an arrival
 * rate (RATE req/s) against a URL, taps every request's send time and how late it started
 * (latency minus service time: from its scheduled instant to its send), and prints a PACING_RESULT.
 * Usage: node --import tsx bench/pacing-load.ts URL tsunami|arrival-rate RATE DURATION_MS [THREADS]
 */
import { create } from "@bufbuild/protobuf";
import { ArrivalRateSchema, TsunamiSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { runSoloAvalanche } from "./solo-driver.js";

export const PACING_PREFIX = "PACING_RESULT ";

/** What the pacing child measured. */
export interface PacingResult {
  workload: string;
  ratePerS: number;
  durationMs: number;
  threads: number;
  /** Requests the schedule holds, and the ones sent. */
  scheduled: number;
  sent: number;
  errors: number;
  dropped: number;
  /** Sent ÷ scheduled − 1. */
  countError: number;
  /** Rate from the send times: (sent − 1) ÷ (last send − first send), and its error against RATE. */
  achievedPerS: number;
  rateError: number;
  /** Start to start: |gap between consecutive sends − 1000/RATE ms|. */
  jitterP50Ms: number;
  jitterP99Ms: number;
  jitterMaxMs: number;
  /** How late requests started after their scheduled instant. */
  lateP50Ms: number;
  lateP99Ms: number;
  lateMaxMs: number;
}

const quantile = (sorted: Float64Array, q: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);

async function main(): Promise<void> {
  const [url, workload, rateArg, durationArg, threadsArg] = process.argv.slice(2);
  if (!url || (workload !== "tsunami" && workload !== "arrival-rate") || !rateArg || !durationArg) {
    console.error("usage: pacing-load.ts URL tsunami|arrival-rate RATE DURATION_MS [THREADS]");
    process.exit(2);
  }
  const rate = Number(rateArg);
  const durationMs = Number(durationArg);
  const threads = Number(threadsArg ?? 1);
  const periodMs = 1000 / rate;
  if (workload === "tsunami" && !Number.isInteger(periodMs)) throw new Error("tsunami needs RATE to divide 1000 (delay_ms is whole ms)");
  const spec: TestSpec["workload"] =
    workload === "tsunami"
      ? { case: "tsunami", value: create(TsunamiSchema, { delayMs: periodMs, limit: { case: "durationMs", value: durationMs } }) }
      : { case: "arrivalRate", value: create(ArrivalRateSchema, { ratePerS: rate, durationMs }) };
  const sentAt: number[] = [];
  const lateMs: number[] = [];
  let errors = 0;
  let dropped = 0;
  const result = await runSoloAvalanche({
    url,
    concurrency: 1,
    durationMs,
    reportIntervalMs: 1000,
    threads,
    workload: spec,
    onSample: (latencyUs, serviceUs, sentMs) => {
      sentAt.push(sentMs);
      lateMs.push((latencyUs - serviceUs) / 1000);
    },
    onMetrics: (m) => {
      errors += Object.values(m.errorCounts).reduce((a, b) => a + Number(b), 0);
      dropped += Number(m.dropped);
    },
  });
  if (result.error) console.error(`pacing: the driver reported: ${result.error}`);
  const sends = Float64Array.from(sentAt).sort();
  const gaps = new Float64Array(Math.max(0, sends.length - 1));
  for (let i = 1; i < sends.length; i++) gaps[i - 1] = Math.abs(sends[i]! - sends[i - 1]! - periodMs);
  gaps.sort();
  const late = Float64Array.from(lateMs).sort();
  const scheduled = Math.round((durationMs / 1000) * rate);
  const achievedPerS = sends.length > 1 ? ((sends.length - 1) / (sends[sends.length - 1]! - sends[0]!)) * 1000 : 0;
  const r: PacingResult = {
    workload,
    ratePerS: rate,
    durationMs,
    threads,
    scheduled,
    sent: sends.length,
    errors,
    dropped,
    countError: sends.length / scheduled - 1,
    achievedPerS,
    rateError: achievedPerS / rate - 1,
    jitterP50Ms: quantile(gaps, 0.5),
    jitterP99Ms: quantile(gaps, 0.99),
    jitterMaxMs: gaps.length ? gaps[gaps.length - 1]! : Number.NaN,
    lateP50Ms: quantile(late, 0.5),
    lateP99Ms: quantile(late, 0.99),
    lateMaxMs: late.length ? late[late.length - 1]! : Number.NaN,
  };
  process.stdout.write(`${PACING_PREFIX}${JSON.stringify(r)}\n`);
}

if (process.argv[1]?.endsWith("pacing-load.ts")) await main();
