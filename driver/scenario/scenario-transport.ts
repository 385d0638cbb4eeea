import type { RpcCall } from "../../rpc/wire.js";
import type { CompiledScenario } from "../../scenario/compile.js";
import type { DataCursor } from "../../scenario/data-cursor.js";
import { rowRecord } from "../../scenario/data.js";
import { SmoothWeighted } from "../../scenario/weighted.js";
import { nowMs } from "../clock.js";
import { InFlight } from "../transport/in-flight.js";
import type { Exchange } from "../transport/exchange.js";
import type { Transport } from "../transport/transport.js";
import { runIteration, type IterationContext } from "./iteration.js";
import type { ScenarioRecorder } from "./scenario-recorder.js";
import { StepRequests } from "./step-request.js";

/** What a {@link ScenarioTransport} runs. */
export interface ScenarioTransportOptions {
  /** The test's compiled scenarios (without problems). */
  scenarios: readonly CompiledScenario[];
  /** This part's rows of each data file the scenarios read, by DataFile.name. */
  cursors: ReadonlyMap<string, DataCursor>;
  /** Where a step's relative URL is resolved: TestSpec.target_url. */
  targetUrl: URL;
  /** Each RPC step's call by step index (rpc-steps.ts rpcCalls); none: no RPC step. */
  calls?: readonly (RpcCall | undefined)[] | undefined;
  driverId: string;
  /** The driver's iteration counter, shared by all its load parts (see {@link newIterationCounter}). */
  counter: IterationCounter;
  /**
   * Told once when no scenario can start an iteration any more (their data files ran out with
   * ON_EXHAUSTED_STOP): the part's workload should end. That is the test run as asked, not an
   * error: the final message carries none, only the file in data_exhausted ({@link exhausted}).
   */
  ended: () => void;
  /** Told once per data file whose rows ran out on this part (MetricsMessage.data_exhausted). */
  exhausted: (file: string) => void;
}

/**
 * A driver's count of its scenario iterations, shared by its load parts on every thread (a
 * SharedArrayBuffer, so a worker thread's part adds to the same memory): slot 0 counts the picks
 * claimed (indexes into the driver's one sequence of smooth weighted picks), slot 1 the iterations
 * started ({{iteration}}: the iteration's number on the driver, from 0). The two differ only when a
 * data file ran out on a part, which skips the picks of its scenarios.
 */
export type IterationCounter = BigInt64Array;

/** A new {@link IterationCounter} at 0, for one driver's part of one test. */
export function newIterationCounter(): IterationCounter {
  return new BigInt64Array(new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT));
}

/**
 * Runs a scenario test's iterations as the executors' {@link Transport}: a "request" of the
 * executors is an iteration. Each iteration picks a scenario by smooth weighted round-robin: it
 * claims the next index of the driver's one sequence of picks from the shared counter (Atomics),
 * so whatever each thread ran, the iterations a driver started are the picks 0..K-1 and the mix is
 * exact, each scenario within ±1 of its share. It takes a row of its data file, and runs its steps in order through an
 * {@link Exchange} (iteration.ts). `inFlight` counts iterations, so an open model's max_in_flight
 * caps iterations and its `dropped` counts iterations.
 *
 * Think time: between the steps of an iteration; the last step's pause comes before the loop's next
 * iteration in the closed model, and is not taken in the open model (nothing follows it there).
 */
export class ScenarioTransport implements Transport {
  private readonly flight = new InFlight();
  /** The driver's sequence of picks, computed here up to {@link position}. */
  private readonly picker: SmoothWeighted;
  /** The index of the next pick {@link picker} yields. */
  private position = 0;
  /** Scenarios whose data file ran out on this part: their picks are skipped. */
  private readonly out = new Set<number>();
  private readonly requests: StepRequests;
  private readonly sleepers = new Set<() => void>();
  /** What every iteration of this transport shares. */
  private readonly context: IterationContext;
  private closed = false;
  private over = false;
  /** undici-like: no precise first send; the part's start is the instant it woke. */
  readonly firstSentMs = undefined;

  constructor(
    private readonly o: ScenarioTransportOptions,
    private readonly exchange: Exchange,
    recorder: ScenarioRecorder,
  ) {
    this.picker = new SmoothWeighted(o.scenarios.map((s) => s.weight));
    this.requests = new StepRequests(o.scenarios, o.targetUrl, o.calls);
    this.context = {
      exchange,
      recorder,
      requests: this.requests,
      driverId: o.driverId,
      sleep: (ms) => this.sleep(ms),
      isClosed: () => this.closed,
    };
  }

  get inFlight(): number {
    return this.flight.count;
  }

  prepare(concurrency: number): void {
    void Promise.resolve(this.exchange.prepare(this.requests.origins, Math.max(1, concurrency))).catch(() => undefined);
  }

  async runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    this.prepare(concurrency);
    await Promise.all(Array.from({ length: concurrency }, () => this.loop(more)));
  }

  /** One closed-model loop: an iteration, its last pause, the next iteration, … */
  private async loop(more: (now: number) => boolean): Promise<void> {
    let thinkMs = 0;
    for (;;) {
      if (thinkMs > 0) await this.sleep(thinkMs);
      if (this.closed || this.over) return;
      if (!more(nowMs())) return;
      const it = this.start();
      if (!it) return;
      this.flight.started();
      try {
        thinkMs = await runIteration(it, undefined, this.context);
      } finally {
        this.flight.settled();
      }
    }
  }

  fire(scheduledMs: number): void {
    if (this.closed || this.over) return;
    const it = this.start();
    if (!it) return;
    this.flight.started();
    void runIteration(it, scheduledMs, this.context).finally(() => this.flight.settled());
  }

  /** The next iteration's scenario, row and number; undefined when none can start any more. */
  private start(): { scenario: CompiledScenario; row: Record<string, string> | undefined; iteration: number } | undefined {
    const counter = this.o.counter;
    while (!this.over) {
      // Picks claimed by the driver's other parts meanwhile are theirs: step over them.
      const at = Number(Atomics.add(counter, 0, 1n));
      for (; this.position < at; this.position++) this.picker.next();
      this.position++;
      const scenario = this.o.scenarios[this.picker.next()]!;
      if (this.out.has(scenario.index)) continue;
      let row: Record<string, string> | undefined;
      if (scenario.dataFile !== undefined) {
        const cursor = this.o.cursors.get(scenario.dataFile)!;
        const values = cursor.next();
        if (values === undefined) {
          this.exhausted(scenario.dataFile);
          continue;
        }
        row = rowRecord(cursor.table.columns, values);
      }
      return { scenario, row, iteration: Number(Atomics.add(counter, 1, 1n)) };
    }
    return undefined;
  }

  /** A data file ran out: its scenarios start no more iterations here; when none is left, the part ends. */
  private exhausted(file: string): void {
    for (const s of this.o.scenarios) if (s.dataFile === file) this.out.add(s.index);
    this.o.exhausted(file);
    if (this.o.scenarios.every((s) => s.weight === 0 || this.out.has(s.index))) {
      this.over = true;
      this.o.ended();
    }
  }

  /** Waits `ms`, or until the transport closes. */
  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  waitForSlot(max: number, deadlineMs?: number, signal?: AbortSignal): Promise<boolean> {
    return this.flight.waitForSlot(max, deadlineMs, signal);
  }

  drain(deadlineMs: number): Promise<boolean> {
    return this.flight.drain(deadlineMs);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    for (const wake of [...this.sleepers]) wake();
    await this.exchange.close(force);
  }
}
