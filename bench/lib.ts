/**
 * Helpers shared by the benchmarks: starting the target and other children, bounded waits,
 * environment knobs and table formatting. Every child is killed by its process group when its
 * deadline passes, so no benchmark loop can outlive its bound.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the parent of bench/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** True when `moduleUrl` is the program node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** A positive number from the environment, or `fallback`; a bad value is an error naming the variable. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a number > 0, got ${JSON.stringify(raw)}`);
  return n;
}

/** `node --import tsx` with extra node flags: how every TypeScript child is started. */
export function tsNode(nodeFlags: string[], script: string, args: string[]): [string, string[]] {
  return [process.execPath, [...nodeFlags, "--import", "tsx", join(ROOT, script), ...args]];
}

/** What a finished child left behind. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Wall-clock seconds from spawn to exit. */
  wallS: number;
  /** CPU seconds (user + system) of the command and all its descendants, when measured. */
  cpuS: number | undefined;
}

/**
 * Runs a command to its end, or kills its whole process group after `timeoutMs`.
 * With `measureCpu`, runs it under bash and reads bash's `times` for the children's CPU time
 * (works for any program: node, wrk, hey).
 */
export function runChild(
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; measureCpu?: boolean; echoStderr?: boolean },
): Promise<ChildResult> {
  const started = performance.now();
  const [cmd, argv] = options.measureCpu
    ? ["bash", ["-c", '"$@"; rc=$?; echo "__TIMES__" >&2; times >&2; exit $rc', "bash", command, ...args]]
    : [command, args];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    if (options.echoStderr) process.stderr.write(d);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      let cpuS: number | undefined;
      const mark = stderr.lastIndexOf("__TIMES__");
      if (mark >= 0) {
        // bash `times`: line 1 is the shell's own user/sys, line 2 its children's.
        const lines = stderr.slice(mark).split("\n").filter((l) => l.trim() !== "");
        const childLine = lines[2];
        if (childLine) cpuS = childLine.trim().split(/\s+/).map(bashTime).reduce((a, b) => a + b, 0);
        stderr = stderr.slice(0, mark);
      }
      resolve({ code, signal, stdout, stderr, timedOut, wallS: (performance.now() - started) / 1000, cpuS });
    });
  });
}

/** Parses bash's `1m2.345s`. */
function bashTime(s: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** The load-test target, running in its own process. */
export interface TargetProcess {
  url: string;
  pid: number;
  /** The target's own counters (GET /metrics, not counted by the target). */
  counts(): Promise<{ requests: number; responses: number; connections?: number }>;
  /** Zeroes the target's counters (POST /reset). */
  reset(): Promise<void>;
  /** CPU seconds (user + system) the target process has used so far, from /proc; undefined elsewhere. */
  cpuS(): number | undefined;
  stop(): Promise<void>;
}

/** Starts Kannon's target (`target/target.ts`) on 127.0.0.1 with a free port, in a separate process. */
export async function startTargetProcess(): Promise<TargetProcess> {
  const [cmd, args] = tsNode([], "target/target.ts", ["--host", "127.0.0.1", "--port", "0"]);
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      killGroup(child, "SIGKILL");
      reject(new Error(`the target printed no URL within 15 s (stderr: ${stderr.trim() || "empty"})`));
    }, 15_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the target exited (${code}) before listening: ${stderr.trim()}`));
    });
  });
  const pid = child.pid!;
  const unexpectedExit = (code: number | null) => {
    if (!stopping) console.error(`bench: the target (pid ${pid}) exited unexpectedly (${code}): ${stderr.trim()}`);
  };
  let stopping = false;
  child.on("exit", unexpectedExit);
  const onExit = () => killGroup(child, "SIGKILL");
  process.once("exit", onExit);
  return {
    url,
    pid,
    async counts() {
      const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
      return (await res.json()) as { requests: number; responses: number };
    },
    async reset() {
      const res = await fetch(`${url}/reset`, { method: "POST", signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
    },
    cpuS: () => procCpuS(pid),
    async stop() {
      stopping = true;
      process.off("exit", onExit);
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** User + system CPU seconds of a process from /proc/PID/stat (Linux), or undefined. */
export function procCpuS(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at state, field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks;
  } catch {
    return undefined;
  }
}

/** Linux USER_HZ: 100 on every mainstream architecture. */
const clockTicks = 100;

/** True when an executable named `name` is on PATH. */
export function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Formats rows as a left/right aligned text table (numbers right-aligned). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[], isHeader: boolean) =>
    r
      .map((c, i) => {
        const w = widths[i]!;
        return i === 0 || isHeader ? c.padEnd(w) : c.padStart(w);
      })
      .join("  ");
  return [fmt(header, true), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map((r) => fmt(r, false))].join("\n");
}

/** Milliseconds with two decimals, or "-" when unknown. */
export function ms(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(2);
}
