/**
 * Timing benchmarks: how honest the one-command run's latencies are, and how evenly the open
 * models pace their requests. Both run in `npm run bench` after the throughput comparison.
 *
 * Honest timing: a target that holds every request 2 ms (Kannon's Node target, `/delay?ms=2`, in
 * its own process) is loaded by the whole `kannon run` fleet (orchestrator, API, LMDB and 3
 * drivers in one process, startEmbedded) with its drivers' load on worker threads (the default),
 * then with the load on the main thread as before, then by wrk with as many connections. Each
 * row's p50 minus the hold time is what the tool adds on top of the target; the goal is that
 * Kannon adds no more than wrk. The fleet's start skew is printed too (goal: under 1 ms).
 *
 * Pacing: one driver runs a tsunami and an arrival rate at 1,000 req/s against nginx (or the
 * fallback target); the child taps every send and reports start-to-start jitter (|gap − 1 ms|),
 * how late requests started, and the achieved rate (goals: jitter p99 under 2 ms, rate within 1 %).
 */
import type { LoadResult } from "./load-result.js";
import { envNumber, ms, onPath, runChild, startTargetProcess, table, tsNode, type TargetProcess } from "./lib.js";
import { PACING_PREFIX, type PacingResult } from "./pacing-load.js";
import { external, nodeChild, parseWrk, slack } from "./tool-runs.js";

export const HOLD_MS = 2;

/** One row of the honest-timing comparison. */
export interface TimingRow {
  tool: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  result?: LoadResult;
  /** p50 minus the target's hold time, ms. */
  p50OverHoldMs?: number;
}

export interface TimingReport {
  url: string;
  holdMs: number;
  connections: number;
  seconds: number;
  rows: TimingRow[];
}

export interface PacingReport {
  url: string;
  rows: (PacingResult | { workload: string; failed: string })[];
}

/** The honest-timing comparison (its own target process). */
export async function runHonestTiming(log: (l: string) => void = console.log): Promise<TimingReport> {
  const secs = envNumber("BENCH_SECONDS", 10);
  const drivers = 3;
  const perDriver = 10;
  const connections = drivers * perDriver;
  const target: TargetProcess = await startTargetProcess();
  const url = `${target.url}/delay?ms=${HOLD_MS}`;
  log(`timing: target ${url} (Kannon's Node target, own process, holds each request ${HOLD_MS} ms); ${connections} connections, ${secs} s each`);
  const rows: TimingRow[] = [];
  const attempt = async (tool: string, run: () => Promise<LoadResult>) => {
    log(`timing: ${tool} ...`);
    try {
      const result = await run();
      rows.push({ tool, status: "ok", result, p50OverHoldMs: result.p50Ms - HOLD_MS });
    } catch (err) {
      rows.push({ tool, status: "failed", reason: err instanceof Error ? err.message : String(err) });
    }
  };
  try {
    const durationMs = String(Math.round(secs * 1000));
    await attempt("kannon run (load threads, the default)", () => nodeChild("kannon run", "bench/embedded-load.ts", [url, String(drivers), String(perDriver), durationMs, "threads"], secs, []));
    await attempt("kannon run (load on the main thread, as before)", () => nodeChild("kannon run", "bench/embedded-load.ts", [url, String(drivers), String(perDriver), durationMs, "inline"], secs, []));
    if (onPath("wrk")) {
      await attempt("wrk -t1", async () => (await external("wrk", ["wrk", "-t1", `-c${connections}`, `-d${secs}s`, "--latency", url], secs, undefined, parseWrk)).result);
    } else rows.push({ tool: "wrk -t1", status: "skipped", reason: "wrk is not on PATH (Debian: apt-get install wrk)" });
  } finally {
    await target.stop();
  }
  return { url, holdMs: HOLD_MS, connections, seconds: secs, rows };
}

export function formatTiming(r: TimingReport): string {
  const wrk = r.rows.find((x) => x.tool.startsWith("wrk") && x.status === "ok");
  const lines = [
    `honest timing: ${r.connections} connections against a target that holds each request ${r.holdMs} ms (${r.url}), ${r.seconds} s each`,
    table(
      ["tool", "requests", "req/s", "p50 ms", "p99 ms", "p50 − hold ms", "vs wrk ms", "start skew ms (fleet; drivers)"],
      r.rows
        .filter((x) => x.status === "ok")
        .map((x) => [
          x.tool,
          String(x.result!.requests),
          x.result!.reqPerS.toFixed(0),
          ms(x.result!.p50Ms),
          ms(x.result!.p99Ms),
          ms(x.p50OverHoldMs),
          wrk && x !== wrk ? (x.p50OverHoldMs! - wrk.p50OverHoldMs! >= 0 ? "+" : "") + (x.p50OverHoldMs! - wrk.p50OverHoldMs!).toFixed(2) : "-",
          x.result!.startSkewMs === undefined ? "-" : `${x.result!.startSkewMs.toFixed(2)}; ${x.result!.driverSkewsMs!.map((s) => s.toFixed(2)).join(", ")}`,
        ]),
    ),
    "  p50 − hold: what the tool adds on top of the target's hold time (the target's own timer slack included, the same for every row).",
    "  vs wrk: that, minus wrk's (0 or below: Kannon's p50 sits no further above the hold time than wrk's).",
  ];
  for (const x of r.rows.filter((y) => y.status !== "ok")) lines.push(`  ${x.tool}: ${x.status} — ${x.reason}`);
  return lines.join("\n");
}

/** The pacing runs (against `url`, the throughput bench's target). */
export async function runPacing(url: string, log: (l: string) => void = console.log): Promise<PacingReport> {
  const secs = envNumber("BENCH_PACING_SECONDS", 10);
  const rows: PacingReport["rows"] = [];
  for (const [workload, threads] of [["tsunami", 1], ["arrival-rate", 1], ["arrival-rate", 2]] as const) {
    log(`pacing: ${workload} at 1000 req/s for ${secs} s${threads > 1 ? ` on ${threads} threads` : ""} ...`);
    const [cmd, argv] = tsNode([], "bench/pacing-load.ts", [url, workload, "1000", String(Math.round(secs * 1000)), String(threads)]);
    const r = await runChild(cmd, argv, { timeoutMs: slack(secs) });
    const line = r.stdout.split("\n").find((l) => l.startsWith(PACING_PREFIX));
    if (r.code !== 0 || !line) rows.push({ workload, failed: `exited ${r.code ?? r.signal}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}` });
    else rows.push(JSON.parse(line.slice(PACING_PREFIX.length)) as PacingResult);
  }
  return { url, rows };
}

export function formatPacing(r: PacingReport): string {
  const ok = r.rows.filter((x): x is PacingResult => !("failed" in x));
  const pct = (x: number) => `${(x * 100).toFixed(3)}%`;
  const lines = [
    `pacing: one driver at 1000 req/s against ${r.url}`,
    table(
      ["workload", "threads", "scheduled", "sent", "errors", "dropped", "rate from sends", "rate error", "jitter p50 ms", "jitter p99 ms", "jitter max ms", "late p99 ms", "late max ms", "goal"],
      ok.map((x) => [
        x.workload,
        String(x.threads),
        String(x.scheduled),
        String(x.sent),
        String(x.errors),
        String(x.dropped),
        x.achievedPerS.toFixed(1),
        pct(x.rateError),
        x.jitterP50Ms.toFixed(3),
        x.jitterP99Ms.toFixed(3),
        x.jitterMaxMs.toFixed(3),
        x.lateP99Ms.toFixed(3),
        x.lateMaxMs.toFixed(3),
        x.jitterP99Ms < 2 && Math.abs(x.rateError) < 0.01 && x.sent === x.scheduled ? "met" : "MISSED",
      ]),
    ),
    "  jitter: |gap between consecutive sends − 1 ms| (start to start); late: send time − scheduled time;",
    "  rate from sends: (sent − 1) ÷ (last send − first send); goal: jitter p99 < 2 ms, rate within 1 %, every scheduled request sent.",
  ];
  for (const x of r.rows.filter((y): y is { workload: string; failed: string } => "failed" in y)) lines.push(`  ${x.workload}: FAILED — ${x.failed}`);
  return lines.join("\n");
}
