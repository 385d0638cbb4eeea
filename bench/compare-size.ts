/**
 * How long `kannon compare` takes on two 1-hour runs of 5 steps (issue 21: under 2 s). Builds two
 * reports shaped as the orchestrator stores them — 3,600 one-second intervals downsampled to the
 * report's 1,000 entries (each with its 5 step rows), 10 drivers, the total's and every step's HDR
 * histogram from a million recorded latencies — writes them as `kannon report --format json` files
 * and into a data directory, and times `kannon compare` on both (the whole process, tsx included).
 *
 *   node --import tsx bench/compare-size.ts
 */
import { create } from "@bufbuild/protobuf";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReportSchema, StatsSchema, type LatencyStats, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, TestSchema } from "../gen/kannon/v1/test_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { Store } from "../orchestrator/store.js";
import { reportJson } from "../web/exports.js";
import { compareReports, judgeComparison, parseRegressionRule, type RegressionRule } from "../web/compare.js";
import { reportFromFile } from "../cli/compare-command.js";

const STEPS = ["login", "browse", "search", "cart", "checkout"];
const SECONDS = 3600;

/** A latency summary with the histogram of `n` latencies around `medianUs` (a long tail). */
function latency(n: number, medianUs: number, withHistogram: boolean): LatencyStats {
  const h = createLatencyHistogram();
  for (let i = 0; i < n; i++) recordUs(h, Math.round(medianUs * Math.exp((Math.random() - 0.5) * 2) * (Math.random() < 0.01 ? 8 : 1)));
  const p = (q: number) => BigInt(h.getValueAtPercentile(q));
  return { count: BigInt(n), minUs: BigInt(h.minNonZeroValue), meanUs: h.mean, stdevUs: h.stdDeviation, p50Us: p(50), p90Us: p(90), p95Us: p(95), p99Us: p(99), p999Us: p(99.9), maxUs: BigInt(h.maxValue), histogram: withHistogram ? encodeHistogram(h) : new Uint8Array() } as LatencyStats;
}

/** Stats of `requests` requests with per-step rows (`slow`: the step whose latency is 3× in this run). */
function stats(requests: number, seconds: number, withHistogram: boolean, slow: string | undefined): Stats {
  const per = Math.round(requests / STEPS.length);
  const sample = withHistogram ? per : 200;
  return create(StatsSchema, {
    requests: BigInt(requests),
    requestsPerS: requests / seconds,
    errors: BigInt(Math.round(requests / 1000)),
    latency: latency(sample, 2000, withHistogram),
    scenarios: [{ scenarioIndex: 0, scenario: "shop", iterations: BigInt(per), iterationsPerS: per / seconds, iterationDuration: latency(sample, 10_000, withHistogram) }],
    steps: STEPS.map((step, i) => ({
      stepIndex: i,
      scenario: "shop",
      step,
      stats: { requests: BigInt(per), requestsPerS: per / seconds, errors: BigInt(Math.round(per / 1000)), latency: latency(sample, step === slow ? 6000 : 2000, withHistogram) },
      checks: [{ name: "ok", passed: BigInt(per), failed: 0n }],
    })),
  });
}

function report(id: string, slow: string | undefined): Report {
  const startAt = { seconds: 1_800_000_000n, nanos: 0 };
  return create(ReportSchema, {
    testId: id,
    state: TestState.COMPLETED,
    startAt,
    endedAt: { seconds: startAt.seconds + BigInt(SECONDS), nanos: 0 },
    spec: { name: `an hour, ${id}`, reportIntervalMs: 1000 },
    total: stats(1_000_000, SECONDS, true, slow),
    drivers: Array.from({ length: 10 }, (_, d) => ({ driverId: `driver-${d}`, finished: true, stats: stats(100_000, SECONDS, true, slow) })),
    intervals: Array.from({ length: 1000 }, (_, i) => ({ ...stats(1000, 3.6, false, slow), interval: Math.floor(i * 3.6) })),
    intervalStep: 4,
    intervalCount: SECONDS,
  });
}

const dir = mkdtempSync(join(tmpdir(), "kannon-compare-bench-"));
try {
  const store = new Store(join(dir, "store"));
  const files: string[] = [];
  for (const [id, slow] of [["base", undefined], ["candidate", "search"]] as const) {
    const r = report(id, slow);
    store.putTest(create(TestSchema, { id, state: TestState.COMPLETED, spec: r.spec }));
    store.putReport(r);
    const file = join(dir, `${id}.json`);
    writeFileSync(file, reportJson(r));
    files.push(file);
  }
  await store.close();
  const time = (args: string[]) => {
    const t0 = performance.now();
    let code = 0;
    try {
      execFileSync(process.execPath, ["--import", "tsx", "cli/kannon.ts", "compare", ...args, "--max-regression", "p99=10%"], { cwd: join(import.meta.dirname, ".."), stdio: "ignore" });
    } catch (err) {
      code = (err as { status: number }).status;
    }
    return { ms: Math.round(performance.now() - t0), code };
  };
  const version = () => {
    const t0 = performance.now();
    execFileSync(process.execPath, ["--import", "tsx", "cli/kannon.ts", "--version"], { cwd: join(import.meta.dirname, ".."), stdio: "ignore" });
    return Math.round(performance.now() - t0);
  };
  const mb = (f: string) => (statSync(f).size / 1e6).toFixed(1);
  console.log(`two 1-hour reports of 5 steps: ${mb(files[0]!)} MB and ${mb(files[1]!)} MB of JSON`);
  for (let round = 1; round <= 3; round++) {
    const t0 = performance.now();
    const c = compareReports(reportFromFile(files[0]!, "BASE"), reportFromFile(files[1]!, "CANDIDATE"));
    const found = judgeComparison(c, [parseRegressionRule("p99=10%") as RegressionRule]);
    console.log(`round ${round}: in process, reading both files and comparing: ${Math.round(performance.now() - t0)} ms (${found.length} regressions)`);
    const json = time(files);
    const data = time(["base", "candidate", "--data", join(dir, "store")]);
    console.log(`round ${round}: kannon compare FILE FILE ${json.ms} ms (exit ${json.code}), --data DIR ${data.ms} ms (exit ${data.code}), kannon --version ${version()} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
