/**
 * k6 beside Kannon in the scenario bench: the binary (built once from the Go module proxy into
 * `${KANNON_CACHE:-~/.cache/kannon}/k6-v1.8.1/`, see scripts/go-tool.ts), and one run of the flow
 * script `k6-flow.js` read back from its JSON summary. k6 never phones home (`--no-usage-report`).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureGoTool } from "../scripts/go-tool.js";
import type { LoadResult } from "./load-result.js";
import { ROOT } from "./lib.js";
import { external } from "./tool-runs.js";

/** The k6 release the bench builds when none is installed. */
export const K6_VERSION = "v1.8.1";

/** The k6 binary, built into the cache when it is nowhere (about 1–3 minutes once). */
export const k6Binary = (log: (m: string) => void): string =>
  ensureGoTool({ binary: "k6", pkg: "go.k6.io/k6", version: K6_VERSION, about: "1–3 min, a 70 MB binary" }, log);

/** What a k6 flow run is given. */
export interface K6FlowOptions {
  k6: string;
  /** The target's origin, e.g. http://127.0.0.1:8080. */
  base: string;
  csvPath: string;
  vus: number;
  seconds: number;
  /** Command prefix that pins k6 (taskset -c 0), or empty. */
  pin: string[];
  /** GOMAXPROCS for k6 (1: one core, as hey gets in the throughput part). */
  procs: number;
}

interface K6Summary {
  state: { testRunDurationMs: number };
  metrics: Record<string, { values: Record<string, number> } | undefined>;
}

/** Reads the numbers of a k6 JSON summary (handleSummary's data) as a LoadResult; CPU comes from outside. */
export function parseK6Summary(json: string, cpuS: number): LoadResult {
  const s = JSON.parse(json) as K6Summary;
  const value = (metric: string, key: string): number => {
    const v = s.metrics[metric]?.values[key];
    if (v === undefined) throw new Error(`k6 summary has no ${metric}.${key}`);
    return v;
  };
  const requests = value("http_reqs", "count");
  const durationS = s.state.testRunDurationMs / 1000;
  return {
    requests,
    // http_req_failed is a rate whose "passes" are the failed requests (transport errors and statuses of 400 or more).
    errors: value("http_req_failed", "passes"),
    durationS,
    reqPerS: requests / durationS,
    p50Ms: value("http_req_duration", "med"),
    p99Ms: value("http_req_duration", "p(99)"),
    cpuS,
    iterations: value("iterations", "count"),
    checksPassed: value("checks", "passes"),
    checksFailed: value("checks", "fails"),
    note: "k6's duration includes the graceful stop of the last iterations",
  };
}

/** Runs `k6-flow.js` against `base` and returns what its summary says. */
export async function runK6Flow(o: K6FlowOptions): Promise<{ result: LoadResult; cpuIncludesStartup: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "kannon-bench-k6-"));
  const summary = join(dir, "summary.json");
  try {
    const env = { ...process.env, GOMAXPROCS: String(o.procs), K6_NO_USAGE_REPORT: "true" };
    const args = [...o.pin, o.k6, "run", "--quiet", "--no-color", "--no-usage-report", join(ROOT, "bench", "k6-flow.js")];
    const vars = { BASE: o.base, CSV: o.csvPath, VUS: String(o.vus), DURATION: `${o.seconds}s`, SUMMARY: summary };
    for (const [k, v] of Object.entries(vars)) args.push("-e", `${k}=${v}`);
    return await external("k6", args, o.seconds, env, (_out, cpuS) => parseK6Summary(readFileSync(summary, "utf8"), cpuS));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
