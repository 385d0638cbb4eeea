/**
 * Throughput comparison: Kannon against other load generators, same target, same concurrency,
 * same duration, one after the other in this run. Speed is reported as RATIOS of Kannon's req/s
 * to each other tool's, never as an absolute goal: the machine is shared and noisy.
 *
 * Every process is separate: the target (Kannon's node:http target on 127.0.0.1), and each load
 * generator in its own child. Tools missing from PATH (wrk, hey) are skipped with a message.
 */
import { cpus, loadavg } from "node:os";
import { parseResult, type LoadResult } from "./load-result.js";
import { envNumber, isMain, ms, onPath, runChild, startTargetProcess, table, tsNode, type ChildResult, type TargetProcess } from "./lib.js";

/** One generator's line in the comparison. */
export interface ToolResult {
  tool: string;
  status: "ok" | "skipped" | "failed";
  /** Why it was skipped or failed. */
  reason?: string;
  result?: LoadResult;
  /** CPU seconds measured outside the tool (bash `times`): includes its startup. */
  cpuIncludesStartup?: boolean;
  /** What the target counted during this tool's run. */
  targetRequests?: number;
  /** The target's CPU use during the run, as a share of one core. */
  targetCpuShare?: number;
  /** req/s of every successful round (the result shown is the median round). */
  roundsReqPerS?: number[];
  /** Kannon (driver) req/s divided by this tool's req/s. */
  kannonRatio?: number;
  /** Kannon (driver) CPU µs per request divided by this tool's: above 1, Kannon spends more CPU per request. */
  kannonCostRatio?: number;
}

/** The whole comparison. */
export interface ThroughputReport {
  url: string;
  connections: number;
  seconds: number;
  rounds: number;
  /** The 1-minute load average before and after: how busy the shared machine was. */
  loadAverage: [number, number];
  tools: ToolResult[];
}

interface Tool {
  name: string;
  /** Why it cannot run here, or undefined. */
  unavailable(): string | undefined;
  run(url: string, connections: number, seconds: number): Promise<{ result: LoadResult; cpuIncludesStartup: boolean }>;
}

/** A child's failure as one line. */
function childFailure(name: string, r: ChildResult): Error {
  const why = r.timedOut ? "timed out" : `exited ${r.code ?? r.signal}`;
  const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-5).join(" | ");
  return new Error(`${name} ${why}: ${tail}`);
}

const slack = (seconds: number) => (seconds + 60) * 1000;

/** Seconds from a number and a unit as wrk prints them (us, ms, s, m). */
function seconds(value: string, unit: string): number {
  const v = Number(value);
  return unit === "us" ? v / 1e6 : unit === "ms" ? v / 1e3 : unit === "m" ? v * 60 : v;
}

/** Parses wrk's text output (with --latency). */
export function parseWrk(out: string, cpuS: number): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(out);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!total || !p50 || !p99) throw new Error(`cannot parse wrk output: ${out.slice(0, 400)}`);
  const requests = Number(total[1]);
  const durationS = seconds(total[2]!, total[3]!);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests,
    errors: non2xx + socketErrors,
    durationS,
    reqPerS: requests / durationS,
    p50Ms: seconds(p50[1]!, p50[2]!) * 1000,
    p99Ms: seconds(p99[1]!, p99[2]!) * 1000,
    cpuS,
  };
}

/** Parses hey's text summary. */
export function parseHey(out: string, cpuS: number): LoadResult {
  const totalS = /Total:\s+([\d.]+) secs/.exec(out);
  const p50 = /50%+ in ([\d.]+) secs/.exec(out);
  const p99 = /99%+ in ([\d.]+) secs/.exec(out);
  if (!totalS || !p50 || !p99) throw new Error(`cannot parse hey output: ${out.slice(0, 400)}`);
  let answered = 0;
  let non2xx = 0;
  for (const m of out.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)) {
    answered += Number(m[2]);
    if (!m[1]!.startsWith("2")) non2xx += Number(m[2]);
  }
  let failed = 0;
  const errorSection = out.split("Error distribution:")[1];
  if (errorSection) for (const m of errorSection.matchAll(/^\s+\[(\d+)\]\s/gm)) failed += Number(m[1]);
  const durationS = Number(totalS[1]);
  const requests = answered + failed;
  return {
    requests,
    errors: non2xx + failed,
    durationS,
    reqPerS: requests / durationS,
    p50Ms: Number(p50[1]) * 1000,
    p99Ms: Number(p99[1]) * 1000,
    cpuS,
    note: "latency in 0.1 ms steps",
  };
}

/** Parses the summary `kannon run` prints (cli/summary.ts). */
export function parseKannonRun(out: string, cpuS: number): LoadResult {
  const totals = /requests: (\d+)\s+req\/s: ([\d.]+)\s+errors: (\d+)/.exec(out);
  const lat = /latency: p50 ([\d.]+) ms\s+p90 [\d.]+ ms\s+p99 ([\d.]+) ms/.exec(out);
  if (!totals || !lat) throw new Error(`cannot parse kannon run output: ${out.slice(-600)}`);
  const requests = Number(totals[1]);
  const reqPerS = Number(totals[2]);
  return {
    requests,
    errors: Number(totals[3]),
    durationS: reqPerS > 0 ? requests / reqPerS : 0,
    reqPerS,
    p50Ms: Number(lat[1]),
    p99Ms: Number(lat[2]),
    cpuS,
    note: "whole `kannon run`: orchestrator + API + LMDB + driver in one process",
  };
}

async function nodeChild(name: string, script: string, args: string[], secs: number): Promise<LoadResult> {
  const [cmd, argv] = tsNode([], script, args);
  const r = await runChild(cmd, argv, { timeoutMs: slack(secs) });
  const parsed = parseResult(r.stdout);
  if (r.code !== 0 || !parsed) throw childFailure(name, r);
  if (r.stderr.trim()) process.stderr.write(r.stderr.trim().split("\n").map((l) => `  [${name}] ${l}\n`).join(""));
  return parsed;
}

export const TOOLS: Tool[] = [
  {
    name: "kannon",
    unavailable: () => undefined,
    run: async (url, c, s) => ({
      result: await nodeChild("kannon", "bench/kannon-load.ts", [url, String(c), String(Math.round(s * 1000))], s),
      cpuIncludesStartup: false,
    }),
  },
  {
    name: "kannon-run",
    unavailable: () => undefined,
    run: async (url, c, s) => {
      const [cmd, argv] = tsNode([], "cli/kannon.ts", [
        "run", "--drivers", "1", "--concurrency", String(c), "--duration-ms", String(Math.round(s * 1000)),
        "--interval-ms", "1000", "--url", url,
      ]);
      const r = await runChild(cmd, argv, { timeoutMs: slack(s), measureCpu: true });
      if (r.code !== 0) throw childFailure("kannon run", r);
      return { result: parseKannonRun(r.stdout, r.cpuS ?? Number.NaN), cpuIncludesStartup: true };
    },
  },
  {
    name: "autocannon",
    unavailable: () => undefined,
    run: async (url, c, s) => ({
      result: await nodeChild("autocannon", "bench/autocannon-load.ts", [url, String(c), String(s)], s),
      cpuIncludesStartup: false,
    }),
  },
  {
    name: "wrk",
    unavailable: () => (onPath("wrk") ? undefined : "wrk is not on PATH (Debian: apt-get install wrk)"),
    run: async (url, c, s) => {
      // One thread, like the Node generators, so the target keeps the other core.
      const r = await runChild("wrk", ["-t1", `-c${c}`, `-d${s}s`, "--latency", url], { timeoutMs: slack(s), measureCpu: true });
      if (r.code !== 0) throw childFailure("wrk", r);
      return { result: parseWrk(r.stdout, r.cpuS ?? Number.NaN), cpuIncludesStartup: true };
    },
  },
  {
    name: "hey",
    unavailable: () => (onPath("hey") ? undefined : "hey is not on PATH (Debian: apt-get install hey)"),
    run: async (url, c, s) => {
      // GOMAXPROCS=1: one core, like the other generators.
      const r = await runChild("hey", ["-z", `${s}s`, "-c", String(c), url], {
        timeoutMs: slack(s),
        measureCpu: true,
        env: { ...process.env, GOMAXPROCS: "1" },
      });
      if (r.code !== 0) throw childFailure("hey", r);
      return { result: parseHey(r.stdout, r.cpuS ?? Number.NaN), cpuIncludesStartup: true };
    },
  },
];

/** Options of {@link runThroughput}. */
export interface ThroughputOptions {
  seconds?: number;
  connections?: number;
  /** Rounds of every tool, interleaved; the median round is reported. */
  rounds?: number;
  /** Tool names to run (default: all); others are listed as skipped. */
  only?: string[];
  log?: (line: string) => void;
}

async function measure(tool: Tool, target: TargetProcess, url: string, connections: number, secs: number): Promise<ToolResult> {
  await target.reset();
  const cpu0 = target.cpuS();
  const { result, cpuIncludesStartup } = await tool.run(url, connections, secs);
  const cpu1 = target.cpuS();
  const counts = await target.counts();
  return {
    tool: tool.name,
    status: "ok",
    result,
    cpuIncludesStartup,
    targetRequests: counts.requests,
    // The target idles while a generator starts up, so its CPU time is spent within the load window.
    ...(cpu0 !== undefined && cpu1 !== undefined && result.durationS > 0 ? { targetCpuShare: (cpu1 - cpu0) / result.durationS } : {}),
  };
}

/** Runs the comparison and prints its table; returns the numbers. */
export async function runThroughput(options: ThroughputOptions = {}): Promise<ThroughputReport> {
  const log = options.log ?? ((l: string) => console.log(l));
  const secs = options.seconds ?? envNumber("BENCH_SECONDS", 10);
  const connections = options.connections ?? envNumber("BENCH_CONNECTIONS", 32);
  const rounds = Math.round(options.rounds ?? envNumber("BENCH_ROUNDS", 1));
  const only = options.only ?? process.env.BENCH_TOOLS?.split(",").map((t) => t.trim()).filter(Boolean);
  const loadBefore = loadavg()[0]!;
  const target = await startTargetProcess();
  const url = `${target.url}/ping`;
  log(
    `throughput: target ${url} (pid ${target.pid}, own process); ${connections} connections, ${secs} s per tool, ` +
      `one tool at a time, ${rounds} round(s); machine load average ${loadBefore.toFixed(2)} on ${cpus().length} cores`,
  );
  const runnable: Tool[] = [];
  const results: ToolResult[] = [];
  for (const tool of TOOLS) {
    const why = only && !only.includes(tool.name) ? "not in BENCH_TOOLS" : tool.unavailable();
    if (why) {
      log(`throughput: ${tool.name} skipped: ${why}`);
      results.push({ tool: tool.name, status: "skipped", reason: why });
    } else runnable.push(tool);
  }
  const measured = new Map<string, { ok: ToolResult[]; failures: string[] }>(runnable.map((t) => [t.name, { ok: [], failures: [] }]));
  try {
    // Warm the target's JIT so the first tool measured is not charged for it (not reported).
    const warmS = Math.min(3, secs);
    log(`throughput: warming the target up for ${warmS} s`);
    await nodeChild("warm-up", "bench/autocannon-load.ts", [url, String(connections), String(warmS)], warmS);
    for (let round = 1; round <= rounds; round++) {
      for (const tool of runnable) {
        const m = measured.get(tool.name)!;
        log(`throughput: ${rounds > 1 ? `round ${round}: ` : ""}running ${tool.name} ...`);
        try {
          const r = await measure(tool, target, url, connections, secs);
          log(`throughput: ${tool.name}: ${r.result!.requests} requests, ${r.result!.reqPerS.toFixed(0)} req/s, ${r.result!.errors} errors`);
          m.ok.push(r);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          log(`throughput: ${tool.name} FAILED: ${reason}`);
          m.failures.push(reason);
        }
      }
    }
  } finally {
    await target.stop();
  }
  for (const tool of runnable) {
    const m = measured.get(tool.name)!;
    if (m.ok.length === 0) {
      results.push({ tool: tool.name, status: "failed", reason: m.failures.join("; ") });
      continue;
    }
    // The median round by req/s (the lower one for an even count) stands for the tool.
    const sorted = [...m.ok].sort((a, b) => a.result!.reqPerS - b.result!.reqPerS);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    results.push({ ...median, roundsReqPerS: m.ok.map((r) => r.result!.reqPerS), ...(m.failures.length ? { reason: m.failures.join("; ") } : {}) });
  }
  results.sort((a, b) => TOOLS.findIndex((t) => t.name === a.tool) - TOOLS.findIndex((t) => t.name === b.tool));
  const kannon = results.find((r) => r.tool === "kannon" && r.status === "ok")?.result;
  const cost = (x: LoadResult) => (x.requests > 0 && Number.isFinite(x.cpuS) ? x.cpuS / x.requests : Number.NaN);
  for (const r of results) {
    if (!kannon || !r.result) continue;
    if (r.result.reqPerS > 0) r.kannonRatio = kannon.reqPerS / r.result.reqPerS;
    const c = cost(kannon) / cost(r.result);
    if (Number.isFinite(c)) r.kannonCostRatio = c;
  }
  const loadAfter = loadavg()[0]!;
  log("");
  log(formatThroughput(results));
  log(`  machine load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${cpus().length} cores: other work on the machine skews single numbers; compare ratios.`);
  return { url, connections, seconds: secs, rounds, loadAverage: [loadBefore, loadAfter], tools: results };
}

/** The comparison table, plus skipped and failed tools. */
export function formatThroughput(results: ToolResult[]): string {
  const ok = results.filter((r) => r.status === "ok");
  const rows = ok.map((r) => {
    const x = r.result!;
    const cpuPerReqUs = x.requests > 0 && Number.isFinite(x.cpuS) ? (x.cpuS * 1e6) / x.requests : Number.NaN;
    return [
      r.tool,
      String(x.requests),
      x.reqPerS.toFixed(0),
      ms(x.p50Ms),
      ms(x.p99Ms),
      String(x.errors),
      r.targetRequests === undefined ? "-" : String(r.targetRequests),
      Number.isFinite(x.cpuS) ? `${x.cpuS.toFixed(1)}${r.cpuIncludesStartup ? "*" : ""}` : "-",
      Number.isFinite(cpuPerReqUs) ? cpuPerReqUs.toFixed(1) : "-",
      r.targetCpuShare === undefined ? "-" : `${Math.round(r.targetCpuShare * 100)}%`,
      r.kannonRatio === undefined ? "-" : r.kannonRatio.toFixed(2),
      r.kannonCostRatio === undefined ? "-" : r.kannonCostRatio.toFixed(2),
    ];
  });
  const lines = [
    table(
      ["tool", "requests", "req/s", "p50 ms", "p99 ms", "errors", "target saw", "gen CPU s", "CPU µs/req", "target CPU", "kannon ÷ tool", "CPU/req kannon ÷ tool"],
      rows,
    ),
    "  kannon ÷ tool: Kannon's req/s divided by that tool's req/s (above 1: Kannon pushed more; below 1: less).",
    "  CPU/req kannon ÷ tool: Kannon's CPU per request divided by that tool's (above 1: Kannon costs more per request);",
    "    steadier than req/s on a busy machine, but rows marked * include their startup and look costlier than they are.",
    "  gen CPU s: the load generator's CPU time during the run (* measured from outside: includes process startup).",
    "  target CPU: the target's CPU time over the run as a share of one core (near 100%: the target was the limit).",
  ];
  for (const r of results.filter((x) => x.status !== "ok")) lines.push(`  ${r.tool}: ${r.status} — ${r.reason}`);
  for (const r of ok) {
    const extra = [
      ...(r.roundsReqPerS && r.roundsReqPerS.length > 1 ? [`req/s by round ${r.roundsReqPerS.map((x) => x.toFixed(0)).join(", ")} (median shown)`] : []),
      ...(r.reason ? [`failed rounds: ${r.reason}`] : []),
      ...(r.result!.note ? [r.result!.note] : []),
    ];
    if (extra.length) lines.push(`  ${r.tool}: ${extra.join("; ")}`);
  }
  return lines.join("\n");
}

if (isMain(import.meta.url)) {
  const report = await runThroughput();
  if (!report.tools.some((t) => t.tool === "kannon" && t.status === "ok")) process.exitCode = 1;
}
