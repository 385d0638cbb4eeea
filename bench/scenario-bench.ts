/**
 * The scenario part of `npm run bench`: what scenarios cost, as ratios measured in one run against
 * one nginx (flow.ts's fixed-JSON locations beside `/ping`), every generator pinned to CPU 0 and
 * nginx to CPU 1, same connections (k6: as many VUs), one generator at a time, rounds interleaved:
 * - Kannon's plain avalanche (the single request GET /ping, its fast path);
 * - a one-step scenario with no template, GET /ping (goal: within 5 % of the plain avalanche);
 * - the 3-step flow (a CSV row, a captured token, two checks per step) as Kannon scenarios and as
 *   the k6 script k6-flow.js (goals: ≥ 3× k6's req/s, ≥ 50 % of Kannon's plain avalanche).
 * k6 runs with GOMAXPROCS=1 (one core, as hey in the throughput part).
 */
import { rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { FLOW_NGINX_LOCATIONS, flowCsv } from "./flow.js";
import { k6Binary, K6_VERSION, runK6Flow } from "./k6.js";
import type { LoadResult } from "./load-result.js";
import { envNumber, ms, table } from "./lib.js";
import { measure, medianRound, startBenchTarget, type Tool, type ToolResult } from "./throughput.js";
import { nodeChild } from "./tool-runs.js";

/** Rows of the flow CSV (each Kannon iteration and each k6 iteration takes the next, wrapping). */
const FLOW_ROWS = 10_000;

/** A ratio between two rows of the part, and its goal. */
export interface ScenarioRatio {
  what: string;
  /** req/s of the first row ÷ req/s of the second (on a busy machine, also how much CPU each got). */
  ratio: number | undefined;
  /** Requests per CPU-second of the generator, first ÷ second: req/s per core, what the goal is judged on. */
  perCoreRatio: number | undefined;
  goal: number;
  met: boolean | undefined;
}

/** The whole part. */
export interface ScenarioBenchReport {
  targetNote: string;
  connections: number;
  seconds: number;
  rounds: number;
  k6: string;
  loadAverage: [number, number];
  rows: ToolResult[];
  /** Per row: requests ÷ generator CPU seconds over every round together (the ratios use these). */
  perCore: Record<string, number>;
  ratios: ScenarioRatio[];
}

const SECTION = "scenarios, pinned: generator on CPU 0, nginx on CPU 1";

const kannon = (shape: (base: string) => { url: string; shape: string }): Tool["run"] => async (o) => {
  const s = shape(o.url);
  const args = [s.url, String(o.connections), String(Math.round(o.seconds * 1000)), "1", "1", "fast", s.shape];
  return { result: await nodeChild("kannon", "bench/kannon-load.ts", args, o.seconds, o.pin), cpuIncludesStartup: false };
};

/** The part's generators; `o.url` is the target's origin for each. */
function tools(csvPath: string, k6: () => string): Tool[] {
  const tool = (name: string, run: Tool["run"]): Tool => ({ section: SECTION, name, pinned: true, unavailable: () => (cpus().length >= 2 ? undefined : "needs 2 cores"), run });
  return [
    tool("kannon plain", kannon((base) => ({ url: `${base}/ping`, shape: "plain" }))),
    tool("kannon one-step", kannon((base) => ({ url: `${base}/ping`, shape: "one-step" }))),
    tool("kannon 3-step flow", kannon((base) => ({ url: base, shape: `flow=${csvPath}` }))),
    tool("k6 3-step flow", (o) => runK6Flow({ k6: k6(), base: o.url, csvPath, vus: o.connections, seconds: o.seconds, pin: o.pin, procs: 1 })),
  ];
}

/** Runs the part and prints its table; returns the numbers. */
export async function runScenarioBench(log: (l: string) => void = (l) => console.log(l)): Promise<ScenarioBenchReport> {
  const seconds = envNumber("BENCH_SECONDS", 10);
  const connections = envNumber("BENCH_CONNECTIONS", 64);
  const rounds = Math.round(envNumber("BENCH_ROUNDS", 1));
  const loadBefore = loadavg()[0]!;
  let k6Path: string | undefined;
  let k6Error: string | undefined;
  try {
    k6Path = k6Binary(log);
  } catch (err) {
    k6Error = err instanceof Error ? err.message : String(err);
  }
  const csvPath = join(tmpdir(), `kannon-bench-users-${process.pid}.csv`);
  writeFileSync(csvPath, flowCsv(FLOW_ROWS));
  const { target, note } = await startBenchTarget(log, FLOW_NGINX_LOCATIONS);
  log(`scenarios: target ${target.url} (${note}); ${connections} connections, ${seconds} s each, ${rounds} round(s); load average ${loadBefore.toFixed(2)} on ${cpus().length} cores`);
  const all = tools(csvPath, () => k6Path!);
  const runnable = all.filter((t) => !(t.name.startsWith("k6") && k6Error) && !t.unavailable() && target.pin);
  const measured = new Map<string, { ok: ToolResult[]; failures: string[] }>(runnable.map((t) => [t.name, { ok: [], failures: [] }]));
  try {
    for (let round = 1; round <= rounds; round++)
      for (const tool of runnable) {
        const m = measured.get(tool.name)!;
        try {
          const r = await measure(tool, target, { url: target.url, connections, seconds, pin: [] });
          log(`scenarios: ${rounds > 1 ? `round ${round}: ` : ""}${tool.name}: ${r.result!.requests} requests, ${r.result!.reqPerS.toFixed(0)} req/s, ${r.result!.errors} errors`);
          m.ok.push(r);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          log(`scenarios: ${tool.name} FAILED: ${reason}`);
          m.failures.push(reason);
        }
      }
  } finally {
    await target.stop();
    rmSync(csvPath, { force: true });
  }
  const rows: ToolResult[] = all.map((tool) => {
    const m = measured.get(tool.name);
    if (!m) return { section: SECTION, tool: tool.name, status: "skipped", reason: tool.name.startsWith("k6") && k6Error ? k6Error : tool.unavailable() ?? "pinning needs the nginx target" };
    return m.ok.length ? medianRound(m.ok, m.failures) : { section: SECTION, tool: tool.name, status: "failed", reason: m.failures.join("; ") };
  });
  // Over every round together: steadier than one round's on a shared machine.
  const perCore: Record<string, number> = {};
  for (const [name, m] of measured) if (m.ok.length) perCore[name] = perCpuS(sumOf(m.ok.map((r) => r.result!)));
  const row = (name: string) => rows.find((r) => r.tool === name && r.status === "ok")?.result;
  const ratio = (what: string, a: string, b: string, goal: number): ScenarioRatio => {
    const x = row(a);
    const y = row(b);
    const r = x && y && y.reqPerS > 0 ? x.reqPerS / y.reqPerS : undefined;
    const q = (perCore[a] ?? Number.NaN) / (perCore[b] ?? Number.NaN);
    const p = Number.isFinite(q) && q > 0 ? q : undefined;
    return { what, ratio: r, perCoreRatio: p, goal, met: p === undefined ? undefined : p >= goal };
  };
  const ratios = [
    ratio("one-step scenario ÷ plain avalanche", "kannon one-step", "kannon plain", 0.95),
    ratio("3-step flow: Kannon ÷ k6", "kannon 3-step flow", "k6 3-step flow", 3),
    ratio("3-step flow ÷ Kannon's plain avalanche", "kannon 3-step flow", "kannon plain", 0.5),
  ];
  const report: ScenarioBenchReport = {
    targetNote: note,
    connections,
    seconds,
    rounds,
    k6: k6Path ? `k6 ${K6_VERSION} or the one on PATH (${k6Path})` : `none: ${k6Error}`,
    loadAverage: [loadBefore, loadavg()[0]!],
    rows,
    perCore,
    ratios,
  };
  log("");
  log(formatScenarioBench(report));
  return report;
}

/** Requests per CPU-second of the generator: its req/s per core. */
const perCpuS = (x: Pick<LoadResult, "requests" | "cpuS">): number => (x.cpuS > 0 ? x.requests / x.cpuS : Number.NaN);
const sumOf = (xs: LoadResult[]) => ({ requests: xs.reduce((a, x) => a + x.requests, 0), cpuS: xs.reduce((a, x) => a + x.cpuS, 0) });

/** The part's table, its ratios against their goals, and skipped or failed rows. */
export function formatScenarioBench(r: ScenarioBenchReport): string {
  const ok = r.rows.filter((x) => x.status === "ok");
  const lines = [
    `scenarios (${r.connections} connections or VUs, ${r.seconds} s each, generator pinned to CPU 0, nginx to CPU 1; ${r.k6}):`,
    table(
      ["generator", "requests", "iterations", "req/s", "req/s per core", "p50 ms", "p99 ms", "errors", "checks ok/failed", "target saw", "gen CPU s", "CPU µs/req", "target CPU"],
      ok.map((row) => {
        const x = row.result!;
        return [
          row.tool,
          String(x.requests),
          x.iterations === undefined ? "-" : String(x.iterations),
          x.reqPerS.toFixed(0),
          Number.isFinite(r.perCore[row.tool] ?? Number.NaN) ? r.perCore[row.tool]!.toFixed(0) : "-",
          ms(x.p50Ms),
          ms(x.p99Ms),
          String(x.errors),
          x.checksPassed === undefined ? "-" : `${x.checksPassed}/${x.checksFailed ?? 0}`,
          row.targetRequests === undefined ? "-" : String(row.targetRequests),
          `${x.cpuS.toFixed(1)}${row.cpuIncludesStartup ? "*" : ""}`,
          x.requests > 0 ? ((x.cpuS * 1e6) / x.requests).toFixed(1) : "-",
          row.targetCpuShare === undefined ? "-" : `${Math.round(row.targetCpuShare * 100)}%`,
        ];
      }),
    ),
    "",
    table(
      ["ratio", "req/s per core", "goal", "met", "req/s"],
      r.ratios.map((x) => [x.what, x.perCoreRatio === undefined ? "-" : `${x.perCoreRatio.toFixed(2)}×`, `≥ ${x.goal}×`, x.met === undefined ? "-" : x.met ? "yes" : "NO", x.ratio === undefined ? "-" : `${x.ratio.toFixed(2)}×`]),
    ),
    "  req/s per core: requests ÷ the generator's CPU seconds over every round (pinned to one core: what it pushes per core whatever",
    "  else runs there); the goals are judged on it. req/s: wall-clock rates of the median round, equal to it only when the",
    "  generator had its core to itself.",
    `  machine load average (1 min): ${r.loadAverage[0].toFixed(2)} before, ${r.loadAverage[1].toFixed(2)} after; * CPU measured from outside (startup included).`,
  ];
  for (const x of r.rows) {
    if (x.status !== "ok") lines.push(`  ${x.tool}: ${x.status} — ${x.reason}`);
    else if (x.roundsReqPerS && x.roundsReqPerS.length > 1) lines.push(`  ${x.tool}: req/s by round ${x.roundsReqPerS.map((v) => v.toFixed(0)).join(", ")} (median shown)`);
  }
  return lines.join("\n");
}
