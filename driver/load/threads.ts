/**
 * A driver's load threads: N worker threads, each with its own connections and recorder,
 * running its part of every test the driver takes. The driver's main thread keeps the data plane
 * (register, heartbeats, configs, triggers) and merges the threads' intervals into the one
 * interval it publishes, so the orchestrator sees one driver.
 *
 * Running the load off the main thread also keeps the measurement honest when the main thread is
 * busy with other work (the embedded fleet of `kannon run` shares its process with the orchestrator).
 */
import { toBinary } from "@bufbuild/protobuf";
import { Worker } from "node:worker_threads";
import { TestSpecSchema } from "../../gen/kannon/v1/test_pb.js";
import type { Share } from "./executor.js";
import type { DataPart, LoadPart, LoadPartOptions } from "./load.js";
import { driverData, threadData } from "../scenario/scenario-load.js";
import { newIterationCounter, type IterationCounter } from "../scenario/scenario-transport.js";
import type { IntervalSnapshot } from "./recorder.js";
import type { TransportKind } from "../transport/transport.js";

import { WORKER_BOOT, workerEntry } from "./worker-entry.js";
import { isSingleRpc } from "../scenario/rpc-steps.js";
import { MAX_DRIVER_THREADS as MAX_THREADS } from "../../workload/defaults.js";

/** Messages to a load thread. */
export type ToThread =
  | {
      type: "run";
      runId: number;
      spec: Uint8Array;
      share: Share;
      thread: { index: number; count: number };
      startAtMs: number;
      tap: boolean;
      transport: TransportKind | undefined;
      driverId: string | undefined;
      /** A scenario test's data: this thread's rows of each file (LoadPartOptions.dataOfThread). */
      data: Map<string, DataPart> | undefined;
      /** A scenario test's iteration counter, shared with the driver's other parts (LoadPartOptions.iterations). */
      iterations: IterationCounter | undefined;
    }
  | { type: "take"; runId: number; takeId: number }
  | { type: "reshare"; runId: number; share: Share }
  | { type: "cancel"; runId: number }
  | { type: "close"; runId: number }
  | { type: "heap"; heapId: number };

/** Messages from a load thread. */
export type FromThread =
  | { type: "ready" }
  | { type: "started"; runId: number; startedMs: number }
  | { type: "done"; runId: number; startedMs: number | undefined }
  | { type: "failed"; runId: number; message: string }
  | { type: "halt"; runId: number; reason: string }
  | { type: "exhausted"; runId: number; file: string }
  | { type: "snapshot"; runId: number; takeId: number; snapshot: IntervalSnapshot; samples: number[] }
  | { type: "heap"; heapId: number; usedBytes: number };

/** Throws a RangeError naming the problem unless `count` is a whole number of threads from 1 to {@link MAX_THREADS}. */
export function checkThreads(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_THREADS)
    throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${count}`);
}

const ENTRY = workerEntry("load-worker", import.meta.url);

/** One load thread. */
class LoadThread {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Why the thread is gone, once it is. */
  dead: Error | undefined;
  private listeners = new Set<(m: FromThread) => void>();
  private deathListeners = new Set<(err: Error) => void>();

  constructor(index: number) {
    this.worker = new Worker(WORKER_BOOT, { workerData: { entry: ENTRY }, name: `kannon-load-${index}` });
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (m: FromThread) => {
        if (m.type !== "ready") return;
        this.listeners.delete(onReady);
        resolve();
      };
      this.listeners.add(onReady);
      this.deathListeners.add(reject);
    });
    this.ready.catch(() => undefined);
    this.worker.on("message", (m: FromThread) => {
      for (const l of this.listeners) l(m);
    });
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = err;
      for (const l of this.deathListeners) l(err);
    };
    this.worker.on("error", (err) => die(err instanceof Error ? err : new Error(String(err))));
    this.worker.on("exit", (code) => die(new Error(`load thread ${index} exited (code ${code})`)));
  }

  post(m: ToThread): void {
    this.worker.postMessage(m);
  }

  listen(onMessage: (m: FromThread) => void, onDeath: (err: Error) => void): () => void {
    this.listeners.add(onMessage);
    this.deathListeners.add(onDeath);
    return () => {
      this.listeners.delete(onMessage);
      this.deathListeners.delete(onDeath);
    };
  }
}

let nextRunId = 1;
let nextHeapId = 1;

/** One thread's part of a test, run on a {@link LoadThread}. */
class WorkerLoadPart implements LoadPart {
  private readonly runId = nextRunId++;
  private nextTakeId = 1;
  private readonly takes = new Map<number, { resolve: (s: IntervalSnapshot) => void; reject: (err: Error) => void }>();
  private finish: { resolve: (t: number | undefined) => void; reject: (err: Error) => void } | undefined;
  private readonly detach: () => void;
  private closed = false;
  onHalt: (reason: string) => void = () => undefined;
  onStarted: (startedMs: number) => void = () => undefined;
  onDataExhausted: (file: string) => void = () => undefined;

  constructor(
    private readonly thread: LoadThread,
    private readonly o: LoadPartOptions,
  ) {
    this.detach = thread.listen(
      (m) => this.onMessage(m),
      (err) => this.onDeath(err),
    );
  }

  private onMessage(m: FromThread): void {
    if (!("runId" in m) || m.runId !== this.runId) return;
    switch (m.type) {
      case "started":
        this.onStarted(m.startedMs);
        break;
      case "halt":
        this.onHalt(m.reason);
        break;
      case "exhausted":
        this.onDataExhausted(m.file);
        break;
      case "done":
        this.finish?.resolve(m.startedMs);
        break;
      case "failed":
        this.finish?.reject(new Error(m.message));
        break;
      case "snapshot": {
        const s = m.samples;
        const tap = this.o.onSample;
        if (tap) for (let i = 0; i + 2 < s.length; i += 3) tap(s[i]!, s[i + 1]!, s[i + 2]!);
        this.takes.get(m.takeId)?.resolve(m.snapshot);
        this.takes.delete(m.takeId);
        break;
      }
    }
  }

  private onDeath(err: Error): void {
    this.finish?.reject(err);
    for (const t of this.takes.values()) t.reject(err);
    this.takes.clear();
  }

  run(startAtMs: number): Promise<number | undefined> {
    if (this.thread.dead) return Promise.reject(this.thread.dead);
    let data: Map<string, DataPart> | undefined;
    try {
      // Only this thread's rows cross to it.
      if (this.o.spec.scenarios.length > 0) data = threadData(driverData(this.o.spec, this.o.data, this.o.share), this.o.thread);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise((resolve, reject) => {
      this.finish = { resolve, reject };
      this.thread.post({
        type: "run",
        runId: this.runId,
        spec: toBinary(TestSpecSchema, this.o.spec),
        share: this.o.share,
        thread: this.o.thread,
        startAtMs,
        tap: this.o.onSample !== undefined,
        transport: this.o.transport,
        driverId: this.o.driverId,
        data,
        iterations: this.o.iterations,
      });
    });
  }

  take(): Promise<IntervalSnapshot> {
    if (this.thread.dead) return Promise.reject(this.thread.dead);
    const takeId = this.nextTakeId++;
    return new Promise((resolve, reject) => {
      this.takes.set(takeId, { resolve, reject });
      this.thread.post({ type: "take", runId: this.runId, takeId });
    });
  }

  reshare(share: Share): void {
    if (!this.thread.dead) this.thread.post({ type: "reshare", runId: this.runId, share });
  }

  cancel(): void {
    if (!this.thread.dead) this.thread.post({ type: "cancel", runId: this.runId });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.thread.dead) this.thread.post({ type: "close", runId: this.runId });
    this.detach();
  }
}

/**
 * Load threads, started once and reused by every test; a thread that died is replaced. A driver
 * owns its threads, or drivers share a pool (the embedded fleet: no more threads than cores, since
 * more threads than cores wake late at the common start).
 */
export class LoadThreads {
  private threads: LoadThread[] = [];

  constructor(readonly count: number) {
    checkThreads(count);
  }

  /** Starts every thread; resolves once each has loaded its code. */
  async start(): Promise<void> {
    this.threads = Array.from({ length: this.count }, (_, i) => new LoadThread(i));
    await Promise.all(this.threads.map((t) => t.ready));
  }

  /** The worker threads' ids (each differs from the main thread's 0). */
  get threadIds(): number[] {
    return this.threads.map((t) => t.worker.threadId);
  }

  /**
   * `count` parts of a test (a driver's threads), on this pool's threads `first`, `first + 1`, …
   * (round the pool); a thread that died since the last test is started again first. A scenario
   * test's parts share one iteration counter (the driver's).
   */
  parts(o: Omit<LoadPartOptions, "thread">, count = this.count, first = 0): LoadPart[] {
    this.threads = this.threads.map((t, i) => (t.dead ? new LoadThread(i) : t));
    const iterations = o.iterations ?? (o.spec.scenarios.length > 0 || isSingleRpc(o.spec) ? newIterationCounter() : undefined);
    return Array.from({ length: count }, (_, index) => new WorkerLoadPart(this.threads[(first + index) % this.count]!, { ...o, iterations, thread: { index, count } }));
  }

  /** Each thread's used heap in bytes (after a full GC when the process runs with --expose-gc). */
  async heapUsed(): Promise<number[]> {
    return Promise.all(
      this.threads.map(
        (t) =>
          new Promise<number>((resolve, reject) => {
            const id = nextHeapId++;
            const detach = t.listen(
              (m) => {
                if (m.type === "heap" && m.heapId === id) {
                  detach();
                  resolve(m.usedBytes);
                }
              },
              (err) => {
                detach();
                reject(err);
              },
            );
            t.post({ type: "heap", heapId: id });
          }),
      ),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

