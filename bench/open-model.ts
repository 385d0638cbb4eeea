/**
 * Open-model comparison: wrk2 (C, `-R` constant throughput, latency corrected for coordinated
 * omission), vegeta (Go) and Kannon's arrival rate (one driver, one load thread), each generator
 * pinned to CPU 0 and nginx to CPU 1, at rising asked rates, one run after the other. Per run: the
 * achieved rate, p50/p99 as each tool reports it, errors, dropped and late (Kannon), the
 * connections nginx accepted, and whether the rate was HELD; then each rate divided by the best
 * rate wrk2 held in the same bench.
 *
 * Held: at least {@link HELD_SHARE} of the asked rate completed, no errors, nothing dropped, and a
 * p99 under {@link HELD_P99_MS} (a generator that falls behind shows it in its corrected latency).
 *
 * wrk2 is not in Debian: `BENCH_WRK2`, `wrk2` on PATH, or the anchor build beside the repository
 * (`../shared/anchors/wrk2/wrk2`, copied to a temporary directory before it runs). vegeta comes
 * from the Go module proxy once (scripts/go-tool.ts).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, getPriority, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureGoTool } from "../scripts/go-tool.js";
import type { LoadResult } from "./load-result.js";
import { envNumber, ms, onPath, ROOT, runChild, table } from "./lib.js";
import { startBenchTarget } from "./throughput.js";
import { childFailure, external, nodeChild, parseWrk, slack } from "./tool-runs.js";

/** A rate is held when at least this share of it completed (with no errors, nothing dropped, p99 under HELD_P99_MS). */
export const HELD_SHARE = 0.95;
export const HELD_P99_MS = 100;
const VEGETA = { binary: "vegeta", pkg: "github.com/tsenart/vegeta/v12", version: "v12.13.0", about: "about a minute", versionArgs: ["-version"] };

/** One generator at one asked rate. */
export interface OpenRun {
  tool: string;
  askedPerS: number;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  result?: LoadResult;
  /** What nginx counted: requests and connections accepted during the run. */
  targetRequests?: number;
  connections?: number;
  held?: boolean;
  /** Achieved rate ÷ the best rate wrk2 held in this bench. */
  ratioToWrk2?: number;
}

/** The whole open-model comparison. */
export interface OpenReport {
  url: string;
  seconds: number;
  /** wrk2's and vegeta's connections (Kannon opens what its rate needs, up to max_in_flight). */
  connections: number;
  /** The 1-minute load average before and after. */
  loadAverage: [number, number];
  runs: OpenRun[];
  wrk2BestHeldPerS?: number;
  kannonBestHeldPerS?: number;
}

/** wrk2's binary, copied to `dir` (the anchor build is read-only), or why there is none. */
function wrk2Binary(dir: string): string | Error {
  const candidates = [process.env.BENCH_WRK2, join(ROOT, "..", "shared", "anchors", "wrk2", "wrk2"), join(ROOT, "..", "..", "shared", "anchors", "wrk2", "wrk2")];
  if (onPath("wrk2")) return "wrk2";
  const found = candidates.find((c): c is string => c !== undefined && existsSync(c));
  if (!found) return new Error("wrk2 not found: set BENCH_WRK2, put wrk2 on PATH, or build it into ../shared/anchors/wrk2 (see its README)");
  const copy = join(dir, "wrk2");
  copyFileSync(found, copy);
  return copy;
}

/** Parses `vegeta report -type=json`. */
export function parseVegeta(out: string, cpuS: number): LoadResult {
  const r = JSON.parse(out) as { requests: number; duration: number; wait: number; throughput: number; success: number; latencies: Record<string, number> };
  const durationS = (r.duration + r.wait) / 1e9;
  return {
    requests: r.requests,
    errors: Math.round(r.requests * (1 - r.success)),
    durationS,
    reqPerS: r.requests / durationS,
    p50Ms: (r.latencies["50th"] ?? Number.NaN) / 1e6,
    p99Ms: (r.latencies["99th"] ?? Number.NaN) / 1e6,
    cpuS,
    note: "latency from the actual send (not corrected for coordinated omission)",
  };
}

/** Runs the comparison at each rate in `BENCH_OPEN_RATES` (default 5k, 20k, 40k, 60k per second). */
export async function runOpenModel(log: (l: string) => void = (l) => console.log(l)): Promise<OpenReport> {
  const seconds = envNumber("BENCH_OPEN_SECONDS", 8);
  const connections = envNumber("BENCH_CONNECTIONS", 64);
  const threads = envNumber("BENCH_OPEN_THREADS", 1);
  const rates = (process.env.BENCH_OPEN_RATES ?? "5000,20000,40000,60000").split(",").map(Number).filter((r) => r > 0);
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), "kannon-bench-open-"));
  const { target, kind } = await startBenchTarget(log);
  if (kind !== "nginx" || !target.pin || cpus().length < 2) {
    await target.stop();
    throw new Error("the open-model part needs nginx and 2 cores (the generator pinned to CPU 0, nginx to CPU 1)");
  }
  const url = `${target.url}/ping`;
  const wrk2 = wrk2Binary(dir);
  let vegeta: string | Error;
  try {
    vegeta = ensureGoTool(VEGETA, log);
  } catch (err) {
    vegeta = err instanceof Error ? err : new Error(String(err));
  }
  const pin = ["taskset", "-c", "0"];
  const targets = join(dir, "targets.txt");
  writeFileSync(targets, `GET ${url}\n`);
  const tools: { name: string; binary: string | Error; run: (rate: number) => Promise<LoadResult> }[] = [
    {
      name: "wrk2 -t1",
      binary: wrk2,
      run: async (rate) =>
        (await external("wrk2", [...pin, wrk2 as string, "-t1", `-c${connections}`, `-d${seconds}s`, `-R${rate}`, "--latency", url], seconds, undefined, parseWrk)).result,
    },
    {
      name: "vegeta (GOMAXPROCS=1)",
      binary: vegeta,
      run: async (rate) => {
        const out = join(dir, `vegeta-${rate}.bin`);
        const attack = [...pin, vegeta as string, "attack", `-targets=${targets}`, `-rate=${rate}/s`, `-duration=${seconds}s`, `-connections=${connections}`, `-max-connections=${connections}`, `-output=${out}`];
        const [cmd, ...args] = attack;
        const ran = await runChild(cmd!, args, { timeoutMs: slack(seconds), measureCpu: true, env: { ...process.env, GOMAXPROCS: "1" } });
        if (ran.code !== 0) throw childFailure("vegeta attack", ran);
        const report = await external("vegeta report", [vegeta as string, "report", "-type=json", out], seconds, undefined, (o) => parseVegeta(o, ran.cpuS ?? Number.NaN));
        rmSync(out, { force: true });
        return report.result;
      },
    },
    {
      name: "kannon arrival rate",
      binary: "kannon",
      run: (rate) => nodeChild("kannon", "bench/kannon-open-load.ts", [url, String(rate), String(seconds * 1000)], seconds, pin),
    },
    // The rate split over a driver's load threads, their intervals merged (on the same core: exactness, not scale).
    ...(threads > 1
      ? [
          {
            name: `kannon arrival rate, ${threads} threads`,
            binary: "kannon",
            run: (rate: number) => nodeChild("kannon", "bench/kannon-open-load.ts", [url, String(rate), String(seconds * 1000), String(threads)], seconds, pin),
          },
        ]
      : []),
  ];
  const runs: OpenRun[] = [];
  log(`open model: target ${url} (nginx on CPU 1), generators on CPU 0, ${seconds} s per run, rates ${rates.join(", ")}/s; load average ${loadBefore.toFixed(2)}`);
  try {
    target.pin("1");
    for (const rate of rates) {
      for (const tool of tools) {
        if (tool.binary instanceof Error) {
          runs.push({ tool: tool.name, askedPerS: rate, status: "skipped", reason: tool.binary.message });
          continue;
        }
        await target.reset();
        try {
          const result = await tool.run(rate);
          const counts = await target.counts();
          const held = result.reqPerS >= HELD_SHARE * rate && result.errors === 0 && (result.dropped ?? 0) === 0 && result.p99Ms < HELD_P99_MS;
          runs.push({ tool: tool.name, askedPerS: rate, status: "ok", result, targetRequests: counts.requests, ...(counts.connections === undefined ? {} : { connections: counts.connections }), held });
          log(`open model: ${tool.name} at ${rate}/s: ${result.reqPerS.toFixed(0)}/s, p50 ${ms(result.p50Ms)} ms, p99 ${ms(result.p99Ms)} ms${result.dropped === undefined ? "" : `, ${result.dropped} dropped`}${result.firstInterval ? ` (interval 0: p50 ${ms(result.firstInterval.p50Ms)} ms, ${result.firstInterval.dropped} dropped; later p50 ${ms(result.firstInterval.laterP50Ms)} ms)` : ""}${held ? " (held)" : ""}`);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          runs.push({ tool: tool.name, askedPerS: rate, status: "failed", reason });
          log(`open model: ${tool.name} at ${rate}/s FAILED: ${reason}`);
        }
      }
    }
  } finally {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const bestHeld = (prefix: string) => Math.max(0, ...runs.filter((r) => r.tool.startsWith(prefix) && r.held).map((r) => r.result!.reqPerS)) || undefined;
  const wrk2Best = bestHeld("wrk2");
  if (wrk2Best) for (const r of runs) if (r.result) r.ratioToWrk2 = r.result.reqPerS / wrk2Best;
  const kannonBest = bestHeld("kannon");
  return {
    url,
    seconds,
    connections,
    loadAverage: [loadBefore, loadavg()[0]!],
    runs,
    ...(wrk2Best ? { wrk2BestHeldPerS: wrk2Best } : {}),
    ...(kannonBest ? { kannonBestHeldPerS: kannonBest } : {}),
  };
}

/** The table, the best held rates and their ratio, and the load average. */
export function formatOpenModel(r: OpenReport): string {
  const rows = r.runs
    .filter((x) => x.status === "ok")
    .map((x) => {
      const v = x.result!;
      return [
        x.tool,
        String(x.askedPerS),
        v.reqPerS.toFixed(0),
        ms(v.p50Ms),
        ms(v.p99Ms),
        String(v.errors),
        v.dropped === undefined ? "-" : String(v.dropped),
        v.late === undefined ? "-" : String(v.late),
        v.firstInterval === undefined ? "-" : `${ms(v.firstInterval.p50Ms)} / ${ms(v.firstInterval.laterP50Ms)}, ${v.firstInterval.dropped}`,
        x.connections === undefined ? "-" : String(x.connections),
        x.tool.startsWith("kannon") && x.targetRequests !== undefined ? (x.targetRequests === v.requests ? "yes" : `no (${x.targetRequests})`) : "-",
        x.held ? "yes" : "no",
        x.ratioToWrk2 === undefined ? "-" : x.ratioToWrk2.toFixed(2),
      ];
    });
  const lines = [
    `open model (pinned: generator on CPU 0, nginx on CPU 1; ${r.seconds} s per run; wrk2 and vegeta with ${r.connections} connections, Kannon with what its rate needs):`,
    table(["tool", "asked/s", "achieved/s", "p50 ms", "p99 ms", "errors", "dropped", "late", "interval 0 p50 / later p50 ms, 0's drops", "connections", "= nginx's count", "held", "÷ wrk2 best held"], rows),
    `  held: ≥ ${HELD_SHARE * 100} % of the asked rate, no errors, nothing dropped, p99 < ${HELD_P99_MS} ms. wrk2 best held: ${r.wrk2BestHeldPerS?.toFixed(0) ?? "none"}/s; Kannon best held: ${r.kannonBestHeldPerS?.toFixed(0) ?? "none"}/s${r.wrk2BestHeldPerS && r.kannonBestHeldPerS ? ` (${(r.kannonBestHeldPerS / r.wrk2BestHeldPerS).toFixed(2)} × wrk2)` : ""}.`,
    `  machine load average (1 min): ${r.loadAverage[0].toFixed(2)} before, ${r.loadAverage[1].toFixed(2)} after, on ${cpus().length} cores; the bench ran at nice ${getPriority()} (its generators and nginx inherit it).`,
  ];
  for (const x of r.runs.filter((y) => y.status !== "ok" || y.result?.note)) lines.push(`  ${x.tool} at ${x.askedPerS}/s: ${x.status === "ok" ? x.result!.note : `${x.status} — ${x.reason}`}`);
  return lines.join("\n");
}
