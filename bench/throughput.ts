/**
 * Throughput comparison: Kannon's driver against other load generators, same target, same
 * connections, same duration, one after the other in this run, reported as RATIOS (never as an
 * absolute goal: the machine is shared and noisy).
 *
 * The target is nginx from Debian's packages (`nginx-light`, one worker; installed with apt-get
 * when missing and this is root), so that the target is not the limit; Kannon's own Node target
 * is the stated fallback when nginx cannot be had. wrk and hey are installed the same way.
 *
 * Sections (each with its own ratios, Kannon's row ÷ each tool's):
 * - per core, free: one generator thread each (kannon, autocannon, wrk -t1, hey GOMAXPROCS=1);
 * - per core, pinned: the same with the generator on CPU 0 (taskset) and nginx on CPU 1;
 * - every core: 2 threads each (kannon --threads 2, autocannon --workers 2, wrk -t2, hey GOMAXPROCS=2);
 * - pipelining: 10 requests in flight per connection (kannon, autocannon -p 10), apart from the rest.
 */
import { cpus, loadavg } from "node:os";
import type { LoadResult } from "./load-result.js";
import { envNumber, isMain, ms, onPath, startTargetProcess, table, type TargetProcess } from "./lib.js";
import { external, nodeChild, parseHey, parseWrk } from "./tool-runs.js";
import { ensureDebianPackages, startNginx, type NginxTarget } from "./nginx.js";

/** One generator's line in the comparison. */
export interface ToolResult {
  section: string;
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
  /** Kannon's req/s in this section divided by this tool's req/s. */
  kannonRatio?: number;
  /** Kannon's CPU µs per request in this section divided by this tool's: above 1, Kannon spends more CPU per request. */
  kannonCostRatio?: number;
}

/** The whole comparison. */
export interface ThroughputReport {
  /** "nginx" or "node" (the fallback), and why the fallback. */
  target: string;
  targetNote: string;
  url: string;
  connections: number;
  seconds: number;
  rounds: number;
  /** The 1-minute load average before and after: how busy the shared machine was. */
  loadAverage: [number, number];
  tools: ToolResult[];
}

/** What every generator is given. */
export interface RunOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Command prefix that pins the generator (taskset -c 0), or empty. */
  pin: string[];
}

/** A generator of a section. */
export interface Tool {
  section: string;
  name: string;
  /** Pins nginx to CPU 1 and the generator to CPU 0. */
  pinned: boolean;
  /** Why it cannot run here, or undefined. */
  unavailable(): string | undefined;
  run(o: RunOptions): Promise<{ result: LoadResult; cpuIncludesStartup: boolean }>;
}

/** Kannon's transport in this run: `BENCH_TRANSPORT=undici` compares undici with the fast path. */
const kannonTransport = process.env.BENCH_TRANSPORT ?? "fast";
const kannon = (threads: number, pipelining: number) => async (o: RunOptions) => ({
  result: await nodeChild(
    "kannon",
    "bench/kannon-load.ts",
    [o.url, String(o.connections), String(Math.round(o.seconds * 1000)), String(threads), String(pipelining), kannonTransport],
    o.seconds,
    o.pin,
  ),
  cpuIncludesStartup: false,
});
const autocannon = (workers: number, pipelining: number) => async (o: RunOptions) => ({
  result: await nodeChild("autocannon", "bench/autocannon-load.ts", [o.url, String(o.connections), String(o.seconds), String(workers), String(pipelining)], o.seconds, o.pin),
  cpuIncludesStartup: false,
});
const wrk = (threads: number) => (o: RunOptions) =>
  external("wrk", [...o.pin, "wrk", `-t${threads}`, `-c${o.connections}`, `-d${o.seconds}s`, "--latency", o.url], o.seconds, undefined, parseWrk);
const hey = (procs: number) => (o: RunOptions) =>
  external("hey", [...o.pin, "hey", "-z", `${o.seconds}s`, "-c", String(o.connections), o.url], o.seconds, { ...process.env, GOMAXPROCS: String(procs) }, parseHey);
const needs = (binary: string, pkg: string) => () => (onPath(binary) ? undefined : `${binary} is not on PATH (Debian: apt-get install ${pkg})`);
const twoCores = () => (cpus().length >= 2 ? undefined : "needs 2 cores");
const always = () => undefined;

export const SECTIONS = {
  free: "per core (1 thread each), free",
  pinned: "per core (1 thread each), pinned: generator on CPU 0, nginx on CPU 1",
  every: "every core (2 threads each), free",
  pipelined: "pipelining 10 per connection, 1 thread each, free",
} as const;

export const TOOLS: Tool[] = [
  { section: SECTIONS.free, name: "kannon", pinned: false, unavailable: always, run: kannon(1, 1) },
  { section: SECTIONS.free, name: "autocannon", pinned: false, unavailable: always, run: autocannon(1, 1) },
  { section: SECTIONS.free, name: "wrk -t1", pinned: false, unavailable: needs("wrk", "wrk"), run: wrk(1) },
  { section: SECTIONS.free, name: "hey (GOMAXPROCS=1)", pinned: false, unavailable: needs("hey", "hey"), run: hey(1) },
  { section: SECTIONS.pinned, name: "kannon", pinned: true, unavailable: twoCores, run: kannon(1, 1) },
  { section: SECTIONS.pinned, name: "autocannon", pinned: true, unavailable: twoCores, run: autocannon(1, 1) },
  { section: SECTIONS.pinned, name: "wrk -t1", pinned: true, unavailable: () => twoCores() ?? needs("wrk", "wrk")(), run: wrk(1) },
  { section: SECTIONS.pinned, name: "hey (GOMAXPROCS=1)", pinned: true, unavailable: () => twoCores() ?? needs("hey", "hey")(), run: hey(1) },
  { section: SECTIONS.every, name: "kannon --threads 2", pinned: false, unavailable: always, run: kannon(2, 1) },
  { section: SECTIONS.every, name: "autocannon --workers 2", pinned: false, unavailable: always, run: autocannon(2, 1) },
  { section: SECTIONS.every, name: "wrk -t2", pinned: false, unavailable: needs("wrk", "wrk"), run: wrk(2) },
  { section: SECTIONS.every, name: "hey (GOMAXPROCS=2)", pinned: false, unavailable: needs("hey", "hey"), run: hey(2) },
  { section: SECTIONS.pipelined, name: "kannon --pipelining 10", pinned: false, unavailable: always, run: kannon(1, 10) },
  { section: SECTIONS.pipelined, name: "autocannon -p 10", pinned: false, unavailable: always, run: autocannon(1, 10) },
];

/** Options of {@link runThroughput}. */
export interface ThroughputOptions {
  seconds?: number;
  connections?: number;
  /** Rounds of every tool, interleaved; the median round is reported. */
  rounds?: number;
  /** Tool names or section keys (free, pinned, every, pipelined) to run (default: all); others are listed as skipped. */
  only?: string[];
  log?: (line: string) => void;
}

/**
 * The bench's target: nginx when it can be had, else Kannon's Node target (stated). `locations`:
 * extra nginx `location` blocks (startNginx).
 */
export async function startBenchTarget(log: (l: string) => void, locations = ""): Promise<{ target: TargetProcess & Partial<Pick<NginxTarget, "pin">>; kind: string; note: string }> {
  const failed = ensureDebianPackages(
    [
      { binary: "nginx", pkg: "nginx-light" },
      { binary: "wrk", pkg: "wrk" },
      { binary: "hey", pkg: "hey" },
    ],
    log,
  );
  for (const [binary, why] of failed) log(`bench: ${binary}: ${why}`);
  if (!failed.has("nginx")) {
    try {
      return { target: await startNginx(locations), kind: "nginx", note: "nginx (Debian nginx-light), one worker, GET /ping answered from memory" };
    } catch (err) {
      log(`bench: nginx could not start (${err instanceof Error ? err.message : String(err)}); falling back to Kannon's Node target`);
    }
  }
  return {
    target: await startTargetProcess(),
    kind: "node",
    note: "FALLBACK: Kannon's own Node target (nginx unavailable): single-threaded Node is often the limit, so ratios say less",
  };
}

/** One run of `tool` against `target` (pinned as the tool says), with what the target counted and spent. */
export async function measure(tool: Tool, target: TargetProcess & Partial<Pick<NginxTarget, "pin">>, o: RunOptions): Promise<ToolResult> {
  target.pin?.(tool.pinned ? "1" : undefined);
  await target.reset();
  const cpu0 = target.cpuS();
  try {
    const { result, cpuIncludesStartup } = await tool.run({ ...o, pin: tool.pinned ? ["taskset", "-c", "0"] : [] });
    const cpu1 = target.cpuS();
    const counts = await target.counts();
    return {
      section: tool.section,
      tool: tool.name,
      status: "ok",
      result,
      cpuIncludesStartup,
      targetRequests: counts.requests,
      // The target idles while a generator starts up, so its CPU time is spent within the load window.
      ...(cpu0 !== undefined && cpu1 !== undefined && result.durationS > 0 ? { targetCpuShare: (cpu1 - cpu0) / result.durationS } : {}),
    };
  } finally {
    target.pin?.(undefined);
  }
}

const sectionKey = (section: string) => Object.entries(SECTIONS).find(([, v]) => v === section)?.[0] ?? "";

/** Runs the comparison and prints its table; returns the numbers. */
export async function runThroughput(options: ThroughputOptions = {}): Promise<ThroughputReport> {
  const log = options.log ?? ((l: string) => console.log(l));
  const secs = options.seconds ?? envNumber("BENCH_SECONDS", 10);
  const connections = options.connections ?? envNumber("BENCH_CONNECTIONS", 64);
  const rounds = Math.round(options.rounds ?? envNumber("BENCH_ROUNDS", 1));
  const only = options.only ?? process.env.BENCH_TOOLS?.split(",").map((t) => t.trim()).filter(Boolean);
  const loadBefore = loadavg()[0]!;
  const { target, kind, note } = await startBenchTarget(log);
  const url = `${target.url}/ping`;
  log(
    `throughput: target ${url} (${note}; pid ${target.pid}); ${connections} connections, ${secs} s per tool, ` +
      `one tool at a time, ${rounds} round(s); machine load average ${loadBefore.toFixed(2)} on ${cpus().length} cores`,
  );
  const runnable: Tool[] = [];
  const results: ToolResult[] = [];
  for (const tool of TOOLS) {
    const selected = !only || only.includes(tool.name) || only.includes(tool.name.split(" ")[0]!) || only.includes(sectionKey(tool.section));
    const why = !selected ? "not in BENCH_TOOLS" : tool.pinned && !target.pin ? "pinning needs the nginx target" : tool.unavailable();
    if (why) {
      log(`throughput: ${tool.name} [${sectionKey(tool.section)}] skipped: ${why}`);
      results.push({ section: tool.section, tool: tool.name, status: "skipped", reason: why });
    } else runnable.push(tool);
  }
  const key = (t: Tool) => `${t.section}\u0000${t.name}`;
  const measured = new Map<string, { ok: ToolResult[]; failures: string[] }>(runnable.map((t) => [key(t), { ok: [], failures: [] }]));
  try {
    // Warm the target up so the first tool measured is not charged for it (not reported).
    const warmS = Math.min(3, secs);
    log(`throughput: warming the target up for ${warmS} s`);
    await nodeChild("warm-up", "bench/autocannon-load.ts", [url, String(connections), String(warmS)], warmS, []);
    for (let round = 1; round <= rounds; round++) {
      for (const tool of runnable) {
        const m = measured.get(key(tool))!;
        log(`throughput: ${rounds > 1 ? `round ${round}: ` : ""}[${sectionKey(tool.section)}] ${tool.name} ...`);
        try {
          const r = await measure(tool, target, { url, connections, seconds: secs, pin: [] });
          log(`throughput: [${sectionKey(tool.section)}] ${tool.name}: ${r.result!.requests} requests, ${r.result!.reqPerS.toFixed(0)} req/s, ${r.result!.errors} errors`);
          m.ok.push(r);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          log(`throughput: [${sectionKey(tool.section)}] ${tool.name} FAILED: ${reason}`);
          m.failures.push(reason);
        }
      }
    }
  } finally {
    await target.stop();
  }
  for (const tool of runnable) {
    const m = measured.get(key(tool))!;
    if (m.ok.length === 0) {
      results.push({ section: tool.section, tool: tool.name, status: "failed", reason: m.failures.join("; ") });
      continue;
    }
    results.push(medianRound(m.ok, m.failures));
  }
  const order = (r: ToolResult) => TOOLS.findIndex((t) => t.section === r.section && t.name === r.tool);
  results.sort((a, b) => order(a) - order(b));
  const cost = (x: LoadResult) => (x.requests > 0 && Number.isFinite(x.cpuS) ? x.cpuS / x.requests : Number.NaN);
  for (const section of Object.values(SECTIONS)) {
    const k = results.find((r) => r.section === section && r.tool.startsWith("kannon") && r.status === "ok")?.result;
    if (!k) continue;
    for (const r of results) {
      if (r.section !== section || !r.result) continue;
      if (r.result.reqPerS > 0) r.kannonRatio = k.reqPerS / r.result.reqPerS;
      const c = cost(k) / cost(r.result);
      if (Number.isFinite(c)) r.kannonCostRatio = c;
    }
  }
  const loadAfter = loadavg()[0]!;
  log("");
  log(formatThroughput(results));
  log(`  machine load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${cpus().length} cores: other work on the machine skews single numbers; compare ratios.`);
  return { target: kind, targetNote: note, url, connections, seconds: secs, rounds, loadAverage: [loadBefore, loadAfter], tools: results };
}

/** The median round by req/s (the lower one for an even count) stands for the tool; `ok` is not empty. */
export function medianRound(ok: ToolResult[], failures: string[]): ToolResult {
  const sorted = [...ok].sort((a, b) => a.result!.reqPerS - b.result!.reqPerS);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { ...median, roundsReqPerS: ok.map((r) => r.result!.reqPerS), ...(failures.length ? { reason: failures.join("; ") } : {}) };
}

/** The comparison tables (one per section), plus skipped and failed tools. */
export function formatThroughput(results: ToolResult[]): string {
  const lines: string[] = [];
  for (const section of Object.values(SECTIONS)) {
    const ok = results.filter((r) => r.section === section && r.status === "ok");
    if (ok.length === 0) continue;
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
    lines.push(`${section}:`);
    lines.push(
      table(["tool", "requests", "req/s", "p50 ms", "p99 ms", "errors", "target saw", "gen CPU s", "CPU µs/req", "target CPU", "kannon ÷ tool", "CPU/req kannon ÷ tool"], rows),
      "",
    );
  }
  lines.push(
    "  kannon ÷ tool: Kannon's req/s divided by that tool's, in the same section (above 1: Kannon pushed more).",
    "  CPU/req kannon ÷ tool: Kannon's CPU per request divided by that tool's (below 1: Kannon costs less per request);",
    "    steadier than req/s on a busy machine, but rows marked * include their startup and look costlier than they are.",
    "  gen CPU s: the load generator's CPU time during the run (* measured from outside: includes process startup).",
    "  target CPU: the target's CPU time over the run as a share of one core (near 100%: the target was the limit).",
  );
  for (const r of results.filter((x) => x.status !== "ok")) lines.push(`  ${r.tool} [${sectionKey(r.section)}]: ${r.status} — ${r.reason}`);
  for (const r of results.filter((x) => x.status === "ok")) {
    const extra = [
      ...(r.roundsReqPerS && r.roundsReqPerS.length > 1 ? [`req/s by round ${r.roundsReqPerS.map((x) => x.toFixed(0)).join(", ")} (median shown)`] : []),
      ...(r.reason ? [`failed rounds: ${r.reason}`] : []),
      ...(r.result!.note ? [r.result!.note] : []),
    ];
    if (extra.length) lines.push(`  ${r.tool} [${sectionKey(r.section)}]: ${extra.join("; ")}`);
  }
  return lines.join("\n");
}

if (isMain(import.meta.url)) {
  const report = await runThroughput();
  if (!report.tools.some((t) => t.tool === "kannon" && t.status === "ok")) process.exitCode = 1;
}
