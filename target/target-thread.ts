import { Worker } from "node:worker_threads";
import { WORKER_BOOT, workerEntry } from "../driver/load/worker-entry.js";
import type { TargetCounts, TargetOptions } from "./target.js";

/** The built-in target running on a worker thread: its counters are asked for, so they are async. */
export interface ThreadTarget {
  /** Base URL, without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The port the server actually listens on. */
  port: number;
  /** A snapshot of the counters, from the target's thread. */
  counts(): Promise<TargetCounts>;
  /** Zeroes the counters, like `POST /reset`. */
  reset(): Promise<void>;
  /** Stops the server (destroying its connections) and ends the thread. */
  close(): Promise<void>;
}

/** What the parent asks the target's thread. */
export type ToTargetThread = { type: "counts"; id: number } | { type: "reset"; id: number } | { type: "close"; id: number };
/** What the target's thread answers. */
export type FromTargetThread =
  | { type: "ready"; url: string; port: number }
  | { type: "failed"; message: string }
  | { type: "counts"; id: number; counts: TargetCounts }
  | { type: "done"; id: number };

// Started from the load threads' boot module (tsx from the sources, plain .js in the package).
const ENTRY = workerEntry("target-worker", import.meta.url);

/**
 * Starts the built-in target (target/target.ts) on a worker thread of its own, so that whatever
 * keeps the caller's thread busy (`kannon run`'s orchestrator, API and bus) does not show in the
 * target's answers, and so in the latencies the drivers measure.
 */
export function startTargetThread(options: TargetOptions = {}): Promise<ThreadTarget> {
  const worker = new Worker(WORKER_BOOT, { workerData: { entry: ENTRY, options }, name: "kannon-target" });
  const waiting = new Map<number, { resolve: (m: FromTargetThread) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let gone: Error | undefined;
  const ask = (type: ToTargetThread["type"]) =>
    new Promise<FromTargetThread>((resolve, reject) => {
      if (gone) return reject(gone);
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ type, id } satisfies ToTargetThread);
    });
  return new Promise<ThreadTarget>((resolve, reject) => {
    const fail = (err: Error) => {
      gone ??= err;
      for (const w of waiting.values()) w.reject(gone);
      waiting.clear();
      reject(gone);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the target's thread exited (code ${code})`)));
    worker.on("message", (m: FromTargetThread) => {
      if (m.type === "failed") fail(new Error(m.message));
      else if (m.type === "ready") {
        let closing: Promise<void> | undefined;
        resolve({
          url: m.url,
          port: m.port,
          counts: async () => ((await ask("counts")) as Extract<FromTargetThread, { type: "counts" }>).counts,
          reset: async () => void (await ask("reset")),
          close: () =>
            (closing ??= (async () => {
              if (gone) return;
              const exited = new Promise((r) => worker.once("exit", r));
              await ask("close").catch(() => undefined);
              await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
              await worker.terminate();
            })()),
        });
      } else {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        w?.resolve(m);
      }
    });
  });
}
