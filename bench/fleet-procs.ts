/**
 * Children of the fleet bench (the orchestrator under test and the simulated fleet), and what is
 * measured on them from outside: CPU time and RSS from /proc, sampled over a run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { procCpuS } from "./lib.js";

/** A child started by {@link spawnReady}. */
export interface BenchChild {
  readonly pid: number;
  /** The last ~64 KB of its stdout and stderr. */
  output(): string;
  /** True once it has exited. */
  exited(): boolean;
  /** SIGTERM, SIGKILL after `graceMs`; resolves with the exit code once it has exited. */
  stop(graceMs?: number): Promise<number | null>;
}

const KEEP_OUTPUT = 64 * 1024;

/**
 * Starts `node --import tsx SCRIPT ARGS` in `cwd` and resolves with the first match of `ready` in
 * its output; rejects with the output when it exits first or `timeoutMs` passes (it is killed).
 */
export async function spawnReady(
  cwd: string,
  script: string,
  args: string[],
  ready: RegExp,
  timeoutMs: number,
): Promise<{ child: BenchChild; match: RegExpMatchArray }> {
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: "1" },
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`could not spawn ${script}`);
  let out = "";
  const onData = (chunk: Buffer) => {
    out += chunk.toString("utf8");
    if (out.length > 2 * KEEP_OUTPUT) out = out.slice(-KEEP_OUTPUT);
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  let hasExited = false;
  const exit = new Promise<number | null>((resolve) => proc.once("exit", (code) => ((hasExited = true), resolve(code))));
  const killOnExit = () => proc.kill("SIGKILL");
  process.once("exit", killOnExit);
  const child: BenchChild = {
    pid,
    output: () => out.slice(-KEEP_OUTPUT),
    exited: () => hasExited,
    async stop(graceMs = 15_000) {
      process.off("exit", killOnExit);
      if (!hasExited) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        await exit;
        clearTimeout(timer);
      }
      return exit;
    },
  };
  try {
    const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} not ready within ${timeoutMs} ms:\n${out.slice(-4000)}`)), timeoutMs);
      const check = () => {
        const m = out.match(ready);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      };
      proc.stdout!.on("data", check);
      proc.stderr!.on("data", check);
      void exit.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited (${code}) before it was ready:\n${out.slice(-4000)}`));
      });
    });
    return { child, match };
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
}

/** VmRSS of a process in MiB, from /proc/PID/status; undefined when unreadable. */
export function procRssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** One sample of a process. */
export interface ProcSample { atMs: number; cpuS: number; rssMb: number }

/** CPU and RSS of one process over a run, sampled every `periodMs`. */
export interface ProcUsage {
  /** CPU cores used on average: CPU seconds ÷ wall seconds over the run. */
  cpuCores: number;
  /** The highest average over any window of `windowS` seconds (or the whole run when shorter). */
  peakCores: number;
  windowS: number;
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  /** RSS a quarter and three quarters of the way through the span: flat between them means nothing grows with time. */
  rssQuarterMb: number;
  rssThreeQuartersMb: number;
  samples: ProcSample[];
}

/** Samples a process from now until `finish()`; `finish` returns the usage over that span. */
export function sampleProcess(pid: number, periodMs = 500, windowS = 5): { finish(): ProcUsage } {
  const samples: ProcSample[] = [];
  const take = () => {
    const cpuS = procCpuS(pid);
    const rssMb = procRssMb(pid);
    if (cpuS !== undefined && rssMb !== undefined) samples.push({ atMs: Date.now(), cpuS, rssMb });
  };
  take();
  const timer = setInterval(take, periodMs);
  return {
    finish() {
      clearInterval(timer);
      take();
      return usageOf(samples, windowS);
    },
  };
}

/** Average and peak-window CPU and RSS of a sample series. */
export function usageOf(samples: ProcSample[], windowS: number): ProcUsage {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last)
    return { cpuCores: NaN, peakCores: NaN, windowS, rssStartMb: NaN, rssEndMb: NaN, rssMaxMb: NaN, rssQuarterMb: NaN, rssThreeQuartersMb: NaN, samples };
  const rssAt = (f: number) => {
    const at = first.atMs + f * (last.atMs - first.atMs);
    return samples.reduce((best, x) => (Math.abs(x.atMs - at) < Math.abs(best.atMs - at) ? x : best), first).rssMb;
  };
  const rate = (a: ProcSample, b: ProcSample) => (b.atMs > a.atMs ? (b.cpuS - a.cpuS) / ((b.atMs - a.atMs) / 1000) : 0);
  let peak = rate(first, last);
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (j < samples.length && samples[j]!.atMs - samples[i]!.atMs < windowS * 1000) j++;
    if (j < samples.length) peak = Math.max(peak, rate(samples[i]!, samples[j]!));
  }
  return {
    cpuCores: rate(first, last),
    peakCores: peak,
    windowS,
    rssStartMb: first.rssMb,
    rssEndMb: last.rssMb,
    rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    rssQuarterMb: rssAt(0.25),
    rssThreeQuartersMb: rssAt(0.75),
    samples,
  };
}

/** Nearest-rank percentiles of a list of numbers (sorted in place). */
export function percentiles(values: number[], ps: readonly number[]): number[] {
  values.sort((a, b) => a - b);
  return ps.map((p) => (values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1))]!));
}
