import { HttpVersion } from "../../gen/kannon/v1/protocol_pb.js";
import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import type { DataTable } from "../../scenario/data.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, LATE_START_MS } from "../../workload/defaults.js";
import { arrivalRate } from "./arrival-rate.js";
import { avalanche } from "./avalanche.js";
import { nowMs, waitForInstant } from "../clock.js";
import { splitEvenly, threadShare, type Executor, type Share } from "./executor.js";
import { connectionOptionsForThread } from "../transport/connection-options.js";
import { createTransport, type TransportKind } from "../transport/transport.js";
import { openModelPlan } from "./open-model.js";
import { IntervalRecorder, type IntervalSnapshot, type SampleTap } from "./recorder.js";
import { createScenarioTransport, driverData, recorderShape, threadData } from "../scenario/scenario-load.js";
import { isSingleRpc, singleRpcSpec } from "../scenario/rpc-steps.js";
import { ScenarioRecorder } from "../scenario/scenario-recorder.js";
import { newIterationCounter, type IterationCounter } from "../scenario/scenario-transport.js";
import { tsunami } from "./tsunami.js";
import { warmUp } from "./warm-up.js";

/** After a cancel, in-flight requests get this long before they are aborted. */
export const CANCEL_DRAIN_MS = 1000;

/** The longest warm-up before a part's start; none when the start is less than 100 ms + 20 ms away. */
export const WARM_UP_MS = 200;

/** Picks the executor for a spec's workload. */
export function executorFor(spec: TestSpec): Executor {
  switch (spec.workload.case) {
    case "avalanche":
      return avalanche(spec.workload.value);
    case "tsunami":
      return tsunami(spec.workload.value);
    case "arrivalRate":
      return arrivalRate(spec.workload.value);
    default:
      throw new Error("test spec has no workload");
  }
}

/**
 * How many of a driver's `threads` load threads run a test: all of them, but for an avalanche no
 * more than its concurrency. The thread parts split the connections, the request count and the
 * data rows alike, so a thread without a connection would own requests (and rows, and a share of
 * the scenario mix) that it could never send.
 */
export function loadThreadsFor(spec: TestSpec, threads: number): number {
  const w = spec.workload;
  const used = w.case === "avalanche" ? Math.max(1, Math.min(threads, w.value.concurrency)) : threads;
  // HTTP/2 with a set number of connections: no thread without a connection of its own.
  const connections = spec.http?.version === HttpVersion.HTTP_VERSION_2 ? spec.http.connections : 0;
  return connections > 0 ? Math.min(used, connections) : used;
}

/** What a load part needs to run its thread's part of one test. */
export interface LoadPartOptions {
  spec: TestSpec;
  /** The driver's share of the fleet's schedule when the test starts. */
  share: Share;
  /** This part's thread among the driver's threads. */
  thread: { index: number; count: number };
  onSample?: SampleTap | undefined;
  /** Which transport sends the requests (default `fast`: the HTTP/1.1 fast path where it can, undici for the rest). */
  transport?: TransportKind | undefined;
  /**
   * This driver's part of each data file of the test (TestSpec.data_files), by DataFile.name: the
   * rows the orchestrator sent it over the bus (topic `data`). Absent for a test without data files.
   */
  data?: ReadonlyMap<string, DataPart> | undefined;
  /** True when `data` holds only this thread's rows already (a worker thread's part: threads.ts splits them). */
  dataOfThread?: boolean | undefined;
  /**
   * A scenario test: the driver's iteration counter, the same for all its parts (LoadThreads.parts
   * hands one to each); absent, the part counts alone (a driver of one part).
   */
  iterations?: IterationCounter | undefined;
  /** The driver's id, for the templates' {{driverId}} (default "driver"). */
  driverId?: string | undefined;
  /** False: no warm-up before the start (warm-up.ts's own part, which is the warm-up). Default true. */
  warmUp?: boolean | undefined;
}

/** One driver's part of one data file: its columns, and its rows of text in column order. */
export type DataPart = DataTable;

/**
 * The part of one test that one thread of a driver sends and measures: its own transport
 * (connections), its own recorder. A driver runs one part inline (the default) or one per worker
 * thread ({@link WorkerLoadPart}); the {@link TestRun} merges their intervals into one.
 */
export interface LoadPart {
  /**
   * Waits for the common start, sends until the workload ends (or a cancel), drains what is in
   * flight, and resolves with the instant (epoch ms) it started, or undefined when cancelled
   * first. Rejects when the load cannot run (the reason is the final message's error).
   */
  run(startAtMs: number): Promise<number | undefined>;
  /** Takes the interval's numbers and starts a new interval. */
  take(): Promise<IntervalSnapshot>;
  /** The driver's new share of the fleet's schedule (this part takes its thread's part of it). */
  reshare(share: Share): void;
  /** Stops sending at once; in-flight requests get {@link CANCEL_DRAIN_MS}. */
  cancel(): void;
  /** Called with a reason when the workload ends its schedule early (see RunContext.halt). */
  onHalt: (reason: string) => void;
  /** Called once the part passed the start instant and starts sending (epoch ms). */
  onStarted: (startedMs: number) => void;
  /** Called once per data file whose rows ran out on this part (a scenario test; MetricsMessage.data_exhausted). */
  onDataExhausted: (file: string) => void;
  /** Ignores late completions from now on and frees the part's resources. */
  close(): void;
}

/** One thread's load, run in the calling thread. */
export class InlineLoadPart implements LoadPart {
  private readonly abort = new AbortController();
  /** The totals (the executors count drops and late starts here). */
  private readonly recorder: IntervalRecorder;
  /** A scenario test's recorder: the totals above, per step and per scenario. */
  private readonly scenarios: ScenarioRecorder | undefined;
  private readonly share: Share;
  onHalt: (reason: string) => void = () => undefined;
  onStarted: (startedMs: number) => void = () => undefined;
  onDataExhausted: (file: string) => void = () => undefined;

  private readonly o: LoadPartOptions;

  constructor(o: LoadPartOptions) {
    this.o = o;
    const scheduled = o.spec.workload.case !== "avalanche";
    // A single RPC runs as one scenario of one step, recorded in the totals only (rpc-steps.ts).
    if (isSingleRpc(o.spec)) this.o = { ...o, spec: singleRpcSpec(o.spec) };
    if (this.o.spec.scenarios.length > 0) {
      this.scenarios = new ScenarioRecorder(scheduled, recorderShape(this.o.spec), o.onSample);
      if (this.o.spec !== o.spec) this.scenarios.recordTotalsOnly();
      this.recorder = this.scenarios.total;
    } else this.recorder = new IntervalRecorder(scheduled, o.onSample);
    this.share = threadShare(o.share, o.thread);
  }

  async run(startAtMs: number): Promise<number | undefined> {
    const { spec, thread } = this.o;
    const executor = executorFor(spec);
    const timeoutMs = spec.requestTimeoutMs || DEFAULT_REQUEST_TIMEOUT_MS;
    const workload = spec.workload;
    const avalancheSpec = workload.case === "avalanche" ? workload.value : undefined;
    const limit = avalancheSpec?.limit.case === "requestsPerDriver" ? Number(avalancheSpec.limit.value) : Number.POSITIVE_INFINITY;
    const concurrency = avalancheSpec ? splitEvenly(avalancheSpec.concurrency, thread.index, thread.count) : 0;
    const pipelining = Math.max(1, avalancheSpec?.pipelining ?? 1);
    // A scenario test's workload ends early when no scenario can start an iteration any more.
    const ended = new AbortController();
    const transport = this.scenarios
      ? createScenarioTransport({
          spec,
          recorder: this.scenarios,
          data: this.o.dataOfThread ? (this.o.data ?? new Map()) : threadData(driverData(spec, this.o.data, this.o.share), thread),
          thread,
          counter: this.o.iterations ?? newIterationCounter(),
          driverId: this.o.driverId ?? "driver",
          kind: this.o.transport,
          timeoutMs,
          concurrency,
          pipelining,
          scheduled: workload.case !== "avalanche",
          ended: () => ended.abort(),
          exhausted: (file) => this.onDataExhausted(file),
        })
      : createTransport(
          {
            url: new URL(spec.targetUrl),
            method: spec.method.toUpperCase() || "GET",
            headers: spec.headers,
            body: spec.body.length > 0 ? spec.body : undefined,
            timeoutMs,
          },
          this.recorder,
          { kind: this.o.transport, pipelining, http: connectionOptionsForThread(spec.http, thread) },
        );
    transport.prepare(concurrency, openModelPlan(spec, this.o.share, thread));
    try {
      // While the connections open: the request path runs warm against a throwaway server, so that
      // the first interval is not the one where the code is compiled (never within 100 ms of the start).
      const budgetMs = Math.min(WARM_UP_MS, startAtMs - nowMs() - 100);
      if (this.o.warmUp !== false && budgetMs > 20) await warmUp(spec, this.o.transport, budgetMs).catch(() => undefined);
      await waitForInstant(startAtMs, this.abort.signal);
      const startedMs = nowMs();
      if (this.abort.signal.aborted) return undefined;
      // Told after the first requests are out: another part on this thread starting at the same instant goes first.
      setImmediate(() => this.onStarted(startedMs));
      const stopAtMs = spec.maxDurationMs > 0 ? startAtMs + spec.maxDurationMs : Number.POSITIVE_INFINITY;
      await executor({
        transport,
        recorder: this.recorder,
        // A late driver runs its whole schedule from its own start rather than bursting to catch up.
        startMs: startedMs - startAtMs > LATE_START_MS ? startedMs : startAtMs,
        stopAtMs,
        signal: this.scenarios ? AbortSignal.any([this.abort.signal, ended.signal]) : this.abort.signal,
        share: this.share,
        halt: (reason) => this.onHalt(reason),
        thread,
        ...(avalancheSpec
          ? { concurrency, requestLimit: splitEvenly(limit, thread.index, thread.count) }
          : {}),
      });
      const drainFor = this.abort.signal.aborted ? CANCEL_DRAIN_MS : timeoutMs + 1000;
      if (!(await transport.drain(nowMs() + drainFor))) {
        // Still in flight after the drain: abort them now, so that they are counted (as `aborted`
        // errors) in the final message instead of vanishing from the metrics after reaching the target.
        await transport.close(true).catch(() => undefined);
        await transport.drain(nowMs() + 100);
      }
      // The part's start is its first request when the fast path sent one (started together with
      // the other parts of this thread, a moment after the instant), else the instant it woke.
      return transport.firstSentMs ?? startedMs;
    } finally {
      await transport.close(true).catch(() => undefined);
    }
  }

  take(): Promise<IntervalSnapshot> {
    return Promise.resolve(this.takeNow());
  }

  /** The same as {@link take}, without a promise (the worker answers from it). */
  takeNow(): IntervalSnapshot {
    return this.scenarios ? this.scenarios.take() : this.recorder.take();
  }

  reshare(share: Share): void {
    Object.assign(this.share, threadShare(share, this.o.thread));
  }

  cancel(): void {
    this.abort.abort();
  }

  close(): void {
    if (this.scenarios) this.scenarios.closed = true;
    else this.recorder.closed = true;
  }
}
