/**
 * `npm run bench -- fleet`: the orchestrator under a simulated fleet over a real Kafka broker.
 *
 * Starts one development broker (free ports, temporary data directory), then per scenario a fresh
 * orchestrator process (`cli/kannon.ts orchestrator`, its own topic prefix and LMDB directory) and
 * a simulated fleet process (fleet-sim-main.ts), runs one avalanche test over the whole fleet and
 * measures the orchestrator: CPU, RSS, how far the streamed intervals lag behind the drivers'
 * publishes, exact totals, and drivers falsely declared MISSING. See bench/README.md.
 *
 * Environment: BENCH_FLEET_SECONDS (test length, default 20), BENCH_FLEET_SCENARIOS (default
 * "100x1000,1000x1000,100x100": drivers x report interval in ms), BENCH_ORCHESTRATOR_DIR (a
 * checkout whose cli/kannon.ts is run as the orchestrator, for before/after comparisons),
 * BENCH_FLEET_THRESHOLDS (sliding-window thresholds in the scenario tests, default 0).
 */
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startKafka, type KafkaBroker } from "../scripts/kafka-broker.js";
import { runScenario, type LagStats, type Scenario, type ScenarioResult } from "./fleet-scenario.js";
import { envNumber, isMain, ROOT, table } from "./lib.js";

/** The scenarios run when BENCH_FLEET_SCENARIOS is not set. */
export const DEFAULT_SCENARIOS = "100x1000,1000x1000,1000x1000x5,100x100";

/** Parses "100x1000,1000x1000x5" (drivers x report interval ms, optionally x steps of a scenario test). */
export function parseScenarios(raw: string): Scenario[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((label) => {
      const m = /^(\d+)x(\d+)(?:x(\d+))?$/.exec(label);
      const drivers = Number(m?.[1]);
      const intervalMs = Number(m?.[2]);
      const steps = Number(m?.[3] ?? 0);
      if (!m || drivers < 1 || drivers > 9999 || intervalMs < 100 || (m[3] !== undefined && (steps < 1 || steps > 100)))
        throw new Error(`BENCH_FLEET_SCENARIOS: "${label}" must be DRIVERSxINTERVAL_MS[xSTEPS], 1..9999 drivers, interval ≥ 100 ms, 1..100 steps`);
      return { label, drivers, intervalMs, steps };
    });
}

/** The whole run, as written to the JSON file. */
export interface FleetReport {
  startedAt: string;
  node: string;
  cores: number;
  seconds: number;
  orchestratorDir: string;
  loadavgBefore: number[];
  loadavgAfter: number[];
  scenarios: ScenarioResult[];
}

const f1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(0));
const f2 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(2));
const lag = (l: LagStats) => `${f1(l.p50)}/${f1(l.p99)}/${f1(l.max)}`;

/**
 * A scenario test's per-step check: its step rows, "=" when every step's requests and the
 * scenario's iterations are the simulator's (each request i of a payload is step i mod S, so each
 * step and the iterations get exactly 1/S of the requests).
 */
function stepsCell(r: ScenarioResult): string {
  const steps = r.scenario.steps;
  if (steps === 0) return r.stepRequests.length === 0 ? "none" : `${r.stepRequests.length} ≠`;
  const share = r.expectedRequests / steps;
  const exact = r.stepRequests.length === steps && r.stepRequests.every((n) => n === share) && r.iterations === share;
  return `${r.stepRequests.length} ${exact ? "=" : "≠"}`;
}

/** One row per scenario. */
export function formatFleet(results: readonly ScenarioResult[]): string {
  const header = [
    "scenario", "READY s", "state", "partial", "orch CPU", "peak 5s", "RSS start/¼/¾/end MB", "lag p50/p99/max ms", "pairs matched",
    "intervals", "expected req", "report req", "steps", "MISSING (after end)", "unfinished", "sim/kafka/bench CPU",
  ];
  const rows = results.map((r) => [
    `${r.scenario.drivers} drv @ ${r.scenario.intervalMs} ms${r.scenario.steps > 0 ? ` × ${r.scenario.steps} steps` : ""}`,
    Number.isFinite(r.readyAfterMs) ? (r.readyAfterMs / 1000).toFixed(1) : "-",
    r.error && r.state === "-" ? "ERROR" : r.state + (r.timedOut ? " (timeout)" : ""),
    r.partial ? "yes" : "no",
    f2(r.orchestrator?.cpuCores),
    f2(r.orchestrator?.peakCores),
    r.orchestrator
      ? [r.orchestrator.rssStartMb, r.orchestrator.rssQuarterMb, r.orchestrator.rssThreeQuartersMb, r.orchestrator.rssEndMb].map(f1).join("/")
      : "-",
    lag(r.lagFromAck),
    `${r.pairsMatched}/${r.pairsSent}`,
    `${r.intervalsStreamed}/${r.intervalsSent}`,
    String(r.expectedRequests),
    r.reportedRequests === undefined ? "-" : String(r.reportedRequests) + (r.reportedRequests === r.expectedRequests ? " =" : " ≠"),
    stepsCell(r),
    `${r.missing.length} (${r.missingAfterEnd.length})${r.watchDriversCaughtUp || r.state === "-" ? "" : " behind"}`,
    String(r.unfinished),
    `${f2(r.simCores)}/${f2(r.brokerCores)}/${f2(r.benchCores)}`,
  ]);
  return table(header, rows);
}

/** Runs every scenario and prints the report; resolves true when every scenario was measured. */
export async function runFleetBench(): Promise<boolean> {
  const started = new Date();
  const seconds = envNumber("BENCH_FLEET_SECONDS", 20);
  const scenarios = parseScenarios(process.env.BENCH_FLEET_SCENARIOS ?? DEFAULT_SCENARIOS);
  const orchestratorDir = resolve(process.env.BENCH_ORCHESTRATOR_DIR || ROOT);
  if (!existsSync(join(orchestratorDir, "cli/kannon.ts"))) throw new Error(`BENCH_ORCHESTRATOR_DIR: no cli/kannon.ts in ${orchestratorDir}`);
  const log = (m: string) => console.log(m);
  const loadavgBefore = loadavg();
  log(`fleet bench: ${scenarios.map((s) => s.label).join(", ")}; ${seconds} s tests; orchestrator from ${orchestratorDir}`);

  const workDir = await mkdtemp(join(tmpdir(), "kannon-bench-fleet-"));
  let broker: KafkaBroker | undefined;
  const results: ScenarioResult[] = [];
  try {
    broker = await startKafka({ log });
    for (const [index, s] of scenarios.entries()) {
      log(`\nfleet ${s.label}: ${s.drivers} simulated drivers, report interval ${s.intervalMs} ms, ${seconds} s`);
      const r = await runScenario({ kafka: broker.bootstrap, brokerPid: broker.pid, orchestratorDir, workDir, seconds, index, log }, s);
      results.push(r);
      log(`fleet ${s.label}: ${r.state}${r.partial ? " (partial)" : ""}, orchestrator ${f2(r.orchestrator?.cpuCores)} cores, ` +
        `lag p99 ${f1(r.lagFromAck.p99)} ms, ${r.reportedRequests ?? "-"} of ${r.expectedRequests} requests, ${r.missing.length} MISSING` +
        (r.error ? `\n  error: ${r.error}` : ""));
    }
  } finally {
    await broker?.stop();
    await rm(workDir, { recursive: true, force: true });
  }

  const report: FleetReport = {
    startedAt: started.toISOString(), node: process.version, cores: cpus().length, seconds, orchestratorDir,
    loadavgBefore, loadavgAfter: loadavg(), scenarios: results,
  };
  const file = join(tmpdir(), `kannon-bench-fleet-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(report, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2));
  console.log(`\n=== fleet: orchestrator under simulated drivers (${seconds} s tests, orchestrator from ${orchestratorDir}) ===`);
  console.log(formatFleet(results));
  console.log(
    [
      "",
      "READY s: from the simulator's registration until every driver is READY (then 3 s more).",
      "orch CPU: cores the orchestrator used from StartTest to the end (peak 5s: its busiest 5 s).",
      "lag: WatchTest arrival of interval k minus the simulator's send() of (driver, k) resolving; over every pair.",
      "'=' marks exact totals. steps: the report's step rows ('=': every step's requests and the iterations exact).",
      "unfinished: report entries not finished or with a message.",
      "MISSING: drivers seen MISSING on WatchDrivers from the start until the stream caught up (in brackets: first seen",
      "after the test ended; 'behind': the stream had not caught up 30 s after the end, so more may have been queued).",
    ].join("\n"),
  );
  console.log(`load average before ${loadavgBefore.map((l) => l.toFixed(2)).join(" ")}, after ${report.loadavgAfter.map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`results (JSON): ${file}`);
  const measured = results.length === scenarios.length && results.every((r) => r.error === "" || r.state !== "-");
  console.log(`bench fleet: ${measured ? "every scenario measured" : "some scenario could not be measured"}`);
  return measured;
}

if (isMain(import.meta.url)) {
  runFleetBench().then(
    (ok) => (process.exitCode = ok ? 0 : 1),
    (err: unknown) => {
      console.error(`bench fleet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    },
  );
}
