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
  driverId: string;
  /**
   * This part's iterations among its driver's ({{iteration}}, and the scenario picks): first,
   * first + step, first + 2·step, … (thread t of T: t, t + T, …).
   */
  iterations: { first: number; step: number };
  /**
   * Told once when no scenario can start an iteration any more (their data files ran out with
   * ON_EXHAUSTED_STOP): the part's workload should end. That is the test run as asked, not an
   * error: the final message carries none, and the iteration counts show where the rows ended.
   */
  ended: () => void;
}

/**
 * Runs a scenario test's iterations as the executors' {@link Transport}: a "request" of the
 * executors is an iteration. Each iteration picks a scenario (smooth weighted round-robin, so the
 * mix is exact: a driver's threads take turns on one sequence of picks, thread t the picks t,
 * t + T, …, so a driver whose threads ran as many iterations as each other, ±1, ran a prefix of
 * the sequence), takes a row of its data file, and runs its steps in order through an
 * {@link Exchange} (iteration.ts). `inFlight` counts iterations, so an open model's max_in_flight
 * caps iterations and its `dropped` counts iterations.
 *
 * Think time: between the steps of an iteration; the last step's pause comes before the loop's next
 * iteration in the closed model, and is not taken in the open model (nothing follows it there).
 */
export class ScenarioTransport implements Transport {
  private readonly flight = new InFlight();
  private readonly weights: number[];
  private picker: SmoothWeighted;
  /** Picks of the driver's sequence to skip before this part's next one (the other threads' turns). */
  private skip: number;
  private readonly requests: StepRequests;
  private readonly sleepers = new Set<() => void>();
  private nextIteration: number;
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
    this.weights = o.scenarios.map((s) => s.weight);
    this.picker = new SmoothWeighted(this.weights);
    this.requests = new StepRequests(o.scenarios, o.targetUrl);
    this.nextIteration = o.iterations.first;
    this.skip = o.iterations.first;
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
    while (!this.over) {
      for (; this.skip > 0; this.skip--) this.picker.next();
      this.skip = this.o.iterations.step - 1;
      const scenario = this.o.scenarios[this.picker.next()]!;
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
      const iteration = this.nextIteration;
      this.nextIteration += this.o.iterations.step;
      return { scenario, row, iteration };
    }
    return undefined;
  }

  /** A data file ran out: its scenarios start no more iterations; when none is left, the part ends. */
  private exhausted(file: string): void {
    for (const s of this.o.scenarios) if (s.dataFile === file) this.weights[s.index] = 0;
    if (this.weights.every((w) => w === 0)) {
      this.over = true;
      this.o.ended();
    } else this.picker = new SmoothWeighted(this.weights);
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
