/**
 * Running the bench's load generators and reading what they print: a TypeScript child's
 * LoadResult line, and wrk's and hey's text output. Shared by the throughput comparison and the
 * timing parts.
 */
import { parseResult, type LoadResult } from "./load-result.js";
import { runChild, tsNode, type ChildResult } from "./lib.js";

/** A child's failure as one line. */
export function childFailure(name: string, r: ChildResult): Error {
  const why = r.timedOut ? "timed out" : `exited ${r.code ?? r.signal}`;
  const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-5).join(" | ");
  return new Error(`${name} ${why}: ${tail}`);
}

/** A child's time bound: its run plus a minute. */
export const slack = (seconds: number) => (seconds + 60) * 1000;

/** Seconds from a number and a unit as wrk prints them (us, ms, s, m). */
function seconds(value: string, unit: string): number {
  const v = Number(value);
  return unit === "us" ? v / 1e6 : unit === "ms" ? v / 1e3 : unit === "m" ? v * 60 : v;
}

/** Parses wrk's text output (with --latency), and wrk2's (its percentiles print as `50.000%`). */
export function parseWrk(out: string, cpuS: number): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(out);
  const p50 = /^\s+50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const p99 = /^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
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

/** Runs a TypeScript bench child (under `pin`, e.g. taskset) and reads the LoadResult it prints. */
export async function nodeChild(name: string, script: string, args: string[], secs: number, pin: string[]): Promise<LoadResult> {
  const [node, argv] = tsNode([], script, args);
  const [cmd, ...rest] = [...pin, node, ...argv];
  const r = await runChild(cmd!, rest, { timeoutMs: slack(secs) });
  const parsed = parseResult(r.stdout);
  if (r.code !== 0 || !parsed) throw childFailure(name, r);
  if (r.stderr.trim()) process.stderr.write(r.stderr.trim().split("\n").map((l) => `  [${name}] ${l}\n`).join(""));
  return parsed;
}

/** Runs another tool (wrk, hey) with its CPU time measured, and parses its output. */
export async function external(name: string, command: string[], secs: number, env: NodeJS.ProcessEnv | undefined, parse: (out: string, cpuS: number) => LoadResult) {
  const [cmd, ...args] = command;
  const r = await runChild(cmd!, args, { timeoutMs: slack(secs), measureCpu: true, ...(env ? { env } : {}) });
  if (r.code !== 0) throw childFailure(name, r);
  return { result: parse(r.stdout, r.cpuS ?? Number.NaN), cpuIncludesStartup: true };
}
