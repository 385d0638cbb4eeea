import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { once } from "node:events";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");

/** A Kannon command running as an OS process of its own. */
export interface KannonProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and waits for the exit; returns the exit code. SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/**
 * Starts `kannon <args>` (node --import tsx cli/kannon.ts, or `bin`: an installed `kannon`; under `execPrefix`, e.g. in a network
 * namespace with `ip netns exec NS`) and resolves with the first match of
 * `ready` in its output, or rejects with the output when it exits or `timeoutMs` passes first.
 */
export async function startKannon(
  args: string[],
  ready: RegExp,
  timeoutMs = 30_000,
  options: { execPrefix?: string[]; env?: Record<string, string>; bin?: string; cwd?: string } = {},
): Promise<{ proc: KannonProcess; match: RegExpMatchArray }> {
  const prefix = options.execPrefix ?? [];
  const kannon = options.bin ? [options.bin] : [process.execPath, "--import", "tsx", "cli/kannon.ts"];
  const command = [...prefix, ...kannon, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd ?? root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: "1", ...options.env },
  });
  let out = "";
  const proc: KannonProcess = {
    child,
    output: () => out,
    async stop(signal = "SIGTERM", graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, "exit");
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      return child.exitCode;
    },
  };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`kannon ${args[0]} not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kannon ${args[0]} exited (${code}) before it was ready:\n${out}`));
    });
  });
  return { proc, match };
}

/**
 * Runs `kannon <args>` to its end (60 s at most), with `env` over this process's environment (a
 * variable set to undefined is removed); returns its exit code and everything it printed.
 */
export async function runKannon(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "cli/kannon.ts", ...args], {
      cwd: root,
      timeout: 60_000,
      env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)),
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

/** test/fixtures/delay-server.ts in a process of its own. */
export interface DelayServer {
  url: string;
  close(): Promise<void>;
}

/** Starts test/fixtures/delay-server.ts; `pattern` lists the responses' delays (ms) in turn. */
export async function startDelayServer(pattern: number[]): Promise<DelayServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/delay-server.ts", pattern.join(",")], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  return {
    url: line.toString().trim(),
    close: async () => {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}
