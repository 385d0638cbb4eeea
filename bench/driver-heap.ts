/**
 * Driver heap stays flat: a driver's heap, measured after a full GC, may not grow by more than
 * 20 MB from 10 s to 60 s of an avalanche run. Per-request objects or growing per-request arrays in
 * the request path would show up here as steady growth.
 *
 * The parent starts the target (its own process) and a dedicated child started with --expose-gc,
 * which holds a memory bus, ONE driver (createDriver) and a stand-in orchestrator that only counts
 * the metrics messages. The child samples `heapUsed` after `gc()` every 5 s from the common start.
 *
 * Environment: BENCH_HEAP_SECONDS (default 60) is the end of the measurement window; the first
 * sample of the window is at 10 s (or half the window when it is shorter than 20 s); the run lasts
 * 5 s past the window. BENCH_CONNECTIONS (default 32) is the avalanche's concurrency.
 */
import { envNumber, isMain, runChild, startTargetProcess, table, tsNode } from "./lib.js";
import { runSoloAvalanche } from "./solo-driver.js";
import type { DriverAgent } from "../driver/agent/driver.js";

/** Growth allowed from the first to any later sample of the window. */
export const HEAP_LIMIT_MB = 20;

const RESULT_PREFIX = "HEAP_RESULT ";
const MB = 1024 * 1024;

/** One heap sample. */
export interface HeapSample {
  /** Seconds since the common start. */
  atS: number;
  heapUsedMB: number;
  rssMB: number;
  /** Requests the driver had reported (in metrics messages) by then. */
  requests: number;
  /** Each load thread's used heap (after its own gc()), when the driver runs load threads. */
  threadsMB?: number[];
}

/** The verdict. */
export interface HeapReport {
  samples: HeapSample[];
  concurrency: number;
  runSeconds: number;
  windowStartS: number;
  windowEndS: number;
  /** heapUsed at the window's end minus at its start. */
  deltaMB: number;
  /** The highest heapUsed in the window minus the one at its start (main thread, then each load thread). */
  maxGrowthMB: number;
  threadMaxGrowthMB: number[];
  threads: number;
  /** Requests completed in the window (from metrics), and the heap growth per such request. */
  windowRequests: number;
  bytesPerWindowRequest: number;
  totalRequests: number;
  metricsMessages: number;
  limitMB: number;
  pass: boolean;
  driverError: string;
}

/** The window and run length for a window ending at `windowEndS`. */
export function heapPlan(windowEndS: number): { windowStartS: number; periodS: number; runSeconds: number } {
  const windowStartS = Math.min(10, windowEndS / 2);
  return { windowStartS, periodS: Math.min(5, windowStartS), runSeconds: windowEndS + 5 };
}

/** The child: runs the driver, samples its heap, prints the report line. */
async function child(url: string, concurrency: number, windowEndS: number, threads: number): Promise<void> {
  const gc = globalThis.gc;
  if (typeof gc !== "function") throw new Error("driver-heap child needs node --expose-gc");
  const { windowStartS, periodS, runSeconds } = heapPlan(windowEndS);
  const samples: HeapSample[] = [];
  let requests = 0;
  let messages = 0;
  const timers: NodeJS.Timeout[] = [];
  let driver: DriverAgent | undefined;
  const sample = async (startAtMs: number) => {
    gc();
    gc();
    const m = process.memoryUsage();
    const atS = (Date.now() - startAtMs) / 1000;
    const threadsMB = driver && threads > 1 ? (await driver.threadHeaps()).map((b) => b / MB) : undefined;
    const s: HeapSample = { atS, heapUsedMB: m.heapUsed / MB, rssMB: m.rss / MB, requests, ...(threadsMB ? { threadsMB } : {}) };
    samples.push(s);
    process.stderr.write(
      `  heap at ${s.atS.toFixed(1)} s: ${s.heapUsedMB.toFixed(2)} MB heapUsed${threadsMB ? ` (load threads: ${threadsMB.map((t) => t.toFixed(2)).join(", ")} MB)` : ""}, ${s.rssMB.toFixed(1)} MB rss, ${s.requests} requests reported\n`,
    );
  };
  const result = await runSoloAvalanche({
    url,
    concurrency,
    durationMs: runSeconds * 1000,
    reportIntervalMs: 1000,
    threads,
    onDriver: (d) => (driver = d),
    onStartAt: (startAtMs) => {
      // Sample times are fixed from the common start; nothing else is scheduled here.
      for (let t = periodS; t <= windowEndS + 1e-9; t += periodS) {
        timers.push(setTimeout(() => void sample(startAtMs), Math.max(0, startAtMs + t * 1000 - Date.now())));
      }
    },
    onMetrics: (m) => {
      // Count, never keep.
      messages++;
      requests += Number(m.requests);
    },
  });
  for (const t of timers) clearTimeout(t);
  const at = (t: number) => samples.reduce((best, s) => (Math.abs(s.atS - t) < Math.abs(best.atS - t) ? s : best), samples[0]!);
  const first = at(windowStartS);
  const last = at(windowEndS);
  const inWindow = samples.filter((s) => s.atS >= first.atS - 1e-9 && s.atS <= last.atS + 1e-9);
  const maxGrowthMB = Math.max(...inWindow.map((s) => s.heapUsedMB)) - first.heapUsedMB;
  const threadMaxGrowthMB = (first.threadsMB ?? []).map((base, i) => Math.max(...inWindow.map((s) => s.threadsMB?.[i] ?? base)) - base);
  const windowRequests = last.requests - first.requests;
  const deltaMB = last.heapUsedMB - first.heapUsedMB;
  const report: HeapReport = {
    samples,
    concurrency,
    runSeconds,
    windowStartS,
    windowEndS,
    deltaMB,
    maxGrowthMB,
    threadMaxGrowthMB,
    threads,
    windowRequests,
    bytesPerWindowRequest: windowRequests > 0 ? (deltaMB * MB) / windowRequests : 0,
    totalRequests: requests,
    metricsMessages: messages,
    limitMB: HEAP_LIMIT_MB,
    pass: samples.length >= 2 && maxGrowthMB <= HEAP_LIMIT_MB && threadMaxGrowthMB.every((g) => g <= HEAP_LIMIT_MB) && requests > 0 && !result.error,
    driverError: result.error,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(report)}\n`);
}

/** Options of {@link runDriverHeap}. */
export interface DriverHeapOptions {
  windowEndS?: number;
  concurrency?: number;
  /** The driver's load threads (BENCH_HEAP_THREADS, default 2): each thread's heap is checked too. */
  threads?: number;
  log?: (line: string) => void;
}

/** Runs the heap benchmark (target and driver in their own processes) and prints the verdict. */
export async function runDriverHeap(options: DriverHeapOptions = {}): Promise<HeapReport> {
  const log = options.log ?? ((l: string) => console.log(l));
  const windowEndS = options.windowEndS ?? envNumber("BENCH_HEAP_SECONDS", 60);
  const concurrency = options.concurrency ?? envNumber("BENCH_CONNECTIONS", 32);
  const threads = options.threads ?? envNumber("BENCH_HEAP_THREADS", 2);
  const plan = heapPlan(windowEndS);
  const target = await startTargetProcess();
  const url = `${target.url}/ping`;
  log(
    `driver heap: one driver (${threads} load thread${threads > 1 ? "s" : ""}), avalanche of ${concurrency} against ${url} for ${plan.runSeconds} s; ` +
      `heapUsed after gc() every ${plan.periodS} s; limit: +${HEAP_LIMIT_MB} MB from ${plan.windowStartS} s to ${windowEndS} s`,
  );
  let report: HeapReport | undefined;
  try {
    const [cmd, argv] = tsNode(["--expose-gc"], "bench/driver-heap.ts", ["--child", url, String(concurrency), String(windowEndS), String(threads)]);
    const r = await runChild(cmd, argv, { timeoutMs: (plan.runSeconds + 60) * 1000, echoStderr: true });
    const line = r.stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
    if (r.code !== 0 || !line) {
      throw new Error(`driver-heap child ${r.timedOut ? "timed out" : `exited ${r.code ?? r.signal}`}: ${r.stderr.trim().split("\n").slice(-5).join(" | ")}`);
    }
    report = JSON.parse(line.slice(RESULT_PREFIX.length)) as HeapReport;
  } finally {
    await target.stop();
  }
  log("");
  log(formatHeap(report));
  return report;
}

/** The heap series and verdict as text. */
export function formatHeap(r: HeapReport): string {
  const rows = r.samples.map((s) => [
    s.atS.toFixed(1),
    s.heapUsedMB.toFixed(2),
    (s.heapUsedMB - (r.samples[0]?.heapUsedMB ?? 0)).toFixed(2),
    s.threadsMB ? s.threadsMB.map((t) => t.toFixed(2)).join(" / ") : "-",
    s.rssMB.toFixed(1),
    String(s.requests),
  ]);
  return [
    table(["t (s)", "main heapUsed MB", "vs first MB", "load threads' heap MB", "rss MB", "requests so far"], rows),
    `  total requests: ${r.totalRequests} in ${r.metricsMessages} metrics messages (concurrency ${r.concurrency}, ${r.runSeconds} s)`,
    `  heap ${r.windowStartS} s → ${r.windowEndS} s: ${r.deltaMB >= 0 ? "+" : ""}${r.deltaMB.toFixed(2)} MB over ${r.windowRequests} requests ` +
      `(${r.bytesPerWindowRequest.toFixed(2)} bytes/request); highest growth in the window: +${r.maxGrowthMB.toFixed(2)} MB` +
      (r.threadMaxGrowthMB?.length ? `; each load thread's: ${r.threadMaxGrowthMB.map((g) => `+${g.toFixed(2)}`).join(", ")} MB` : ""),
    ...(r.driverError ? [`  the driver reported an error: ${r.driverError}`] : []),
    `  driver heap: ${r.pass ? "PASS" : "FAIL"} (limit +${r.limitMB} MB)`,
  ].join("\n");
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    const [, url, concurrency, windowEnd, threads] = args;
    await child(url!, Number(concurrency), Number(windowEnd), Number(threads ?? 1));
  } else {
    const report = await runDriverHeap();
    if (!report.pass) process.exitCode = 1;
  }
}
