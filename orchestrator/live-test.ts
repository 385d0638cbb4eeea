import { clone, create } from "@bufbuild/protobuf";
import type { MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverProgressSchema, type DriverProgress } from "../gen/kannon/v1/orchestrator_pb.js";
import { ReportSchema, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import type { Series } from "./series.js";
import { withoutHistograms } from "./series.js";
import { TestSchema, TestSpecSchema, TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { judgeOutcome } from "../metrics/outcome.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { decodeRun, RunAccumulator, scenarioLayout, type ScenarioLayout } from "../metrics/step-stats.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import type { ClockOffset } from "../gen/kannon/v1/driver_pb.js";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { MAX_CLOCK_OFFSET_MS } from "./clock-offset.js";
import { ThresholdJudge, withThresholds } from "./threshold-judge.js";
import { cover, driverReports, fleetStartSkewUs, type DriverProgressState } from "./run-report.js";

/** A seq further ahead than this is no clock error but a bad record: refused without losing its driver. */
const MAX_PLAUSIBLE_LEAD_MS = 3_600_000;
/**
 * How many intervals past "now" a driver's seq may run, on top of the clock contract's bound
 * (MAX_CLOCK_OFFSET_MS): the interval a driver is in is ahead of the orchestrator's by up to one.
 */
const MAX_SEQ_AHEAD = 5;
/** The accumulator of an interval nobody reported in: never written to. */
const NOTHING = new RunAccumulator();

/**
 * What a watcher of a test is told: the test as it is now, each driver's progress, and what
 * changed (the merged totals, a new interval, the final report). The routes send it as a
 * WatchTestResponse.
 */
export interface TestUpdate {
  test: Test;
  drivers: DriverProgress[];
  cumulative?: Stats;
  interval?: Stats;
  report?: Report;
}

/** How a run ended, decided by the orchestrator. */
export interface Ending {
  state: TestState.COMPLETED | TestState.CANCELLED | TestState.FAILED;
  message: string;
}

/**
 * The live, exact merge of one running test: per-interval views are emitted once every active
 * driver has moved past the interval, cumulative and per-driver views are sums of histograms.
 * Deduplication happens before `apply` (in the store), so `apply` sees each (driver, seq) once.
 *
 * Memory does not grow with the run's length: an emitted interval goes to `onInterval` (the
 * store) with its histograms and is not kept; only intervals some driver has not reached yet are
 * held. Per driver, what is kept is its totals (counts by histogram bucket, see metrics/counts.ts).
 */
export class LiveTest {
  readonly drivers = new Map<string, DriverProgressState>();
  private readonly pending = new Map<number, RunAccumulator>();
  /** The test's steps and scenarios, by index (none for a single-request test). */
  readonly layout: ScenarioLayout;
  private readonly cumulative: RunAccumulator;
  private nextInterval = 0;
  /** Active drivers whose lastSeq is below nextInterval; -1 when it must be counted again. */
  private behind = -1;
  /** Set once the orchestrator has begun to end the run: nothing more is applied. */
  sealed = false;
  /** The last merged interval emitted (without histograms), for live gauges. */
  lastInterval: Stats | undefined;
  private maxSeq = -1;
  private readonly intervalMs: number;
  private startAtMs: number;
  private readonly listeners = new Set<(u: TestUpdate) => void>();
  private markEnded: () => void = () => {};
  /** Settles once the orchestrator has stored the run's end (see {@link ended}). */
  readonly whenEnded = new Promise<void>((resolve) => (this.markEnded = resolve));
  cancelRequested = false;
  /** Set when a threshold's breach cancelled the test (TestSpec.abort_on_fail): what it was. */
  abortMessage: string | undefined;
  /** Told of the first breach of a threshold seen live (the orchestrator cancels on abort_on_fail). */
  onBreach: (message: string) => void = () => {};
  private readonly thresholds: ThresholdJudge;
  /** The drivers the schedule is currently split over (arrival rate re-splits when one drops out). */
  sharedIds: string[];

  /**
   * @param onInterval receives each merged interval once, with its histograms, when it is emitted
   *   (again, identical, when a restarted orchestrator replays the run).
   * @param onLose receives each loss with the interval before which a replay applies it again
   *   (the driver's last seq + 1).
   */
  constructor(
    public test: Test,
    private readonly onInterval: (stats: Stats) => void = () => {},
    private readonly onLose: (driverId: string, message: string, at: number) => void = () => {},
  ) {
    this.intervalMs = test.spec?.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
    this.startAtMs = test.startAt ? msOf(test.startAt) : Date.now();
    this.sharedIds = [...test.driverIds];
    this.layout = scenarioLayout(test.spec);
    this.cumulative = new RunAccumulator(this.layout);
    this.thresholds = new ThresholdJudge(test.spec ?? create(TestSpecSchema), this.layout, this.intervalMs);
    for (const id of test.driverIds)
      this.drivers.set(id, { id, lastSeq: -1, finished: false, lost: false, message: "", dataExhausted: [], skewUs: undefined, totals: new RunAccumulator(this.layout), covered: [] });
  }

  /** How many intervals have been emitted. */
  get intervalCount(): number {
    return this.nextInterval;
  }

  /** Every driver has delivered its final metrics or was lost. */
  get allDone(): boolean {
    for (const d of this.drivers.values()) if (!d.finished && !d.lost) return false;
    return true;
  }

  /**
   * Why this message cannot be applied, or undefined when it can: it must come from one of the
   * test's drivers that has not delivered its final message yet, and its seq must be plausible
   * (an interval that has begun by now, give or take a few intervals of clock skew).
   */
  rejects(m: MetricsMessage, nowMs = Date.now()): string | undefined {
    const d = this.drivers.get(m.driverId);
    if (this.sealed) return `test ${this.test.id} is ending`;
    if (!d) return `driver ${m.driverId} is not part of test ${this.test.id}`;
    if (d.finished) return `driver ${m.driverId} already delivered its final metrics`;
    // 0 on either side: not numbered (drivers and stored tests from before start attempts).
    if (m.attempt !== 0 && this.test.startAttempt !== 0 && m.attempt !== this.test.startAttempt)
      return `metrics of start attempt ${m.attempt}, the test runs attempt ${this.test.startAttempt}`;
    const latest = Math.max(0, Math.floor((nowMs - this.startAtMs + MAX_CLOCK_OFFSET_MS) / this.intervalMs)) + MAX_SEQ_AHEAD;
    if (m.seq > BigInt(latest)) {
      const current = Math.max(0, Math.floor((nowMs - this.startAtMs) / this.intervalMs));
      // Further ahead than any clock runs: a garbage or hostile record, which costs only itself.
      if (m.seq > BigInt(current) + BigInt(Math.ceil(MAX_PLAUSIBLE_LEAD_MS / this.intervalMs))) return `seq ${m.seq} is beyond interval ${latest}`;
      // Its clock runs ahead beyond the contract: everything it sends would be refused like this, so
      // it is lost now, and the report says why (not "sent no final metrics by the deadline").
      const why =
        `driver ${m.driverId}'s clock runs at least ${(Number(m.seq) - current - 1) * this.intervalMs} ms ahead of the orchestrator's (it sent interval ${m.seq} during interval ${current}), ` +
        `beyond the ±${MAX_CLOCK_OFFSET_MS} ms a fleet must keep: its measurements from then on are refused; synchronise its clock (NTP)`;
      this.lose(m.driverId, why);
      return `seq ${m.seq} is beyond interval ${latest}`;
    }
    return undefined;
  }

  /**
   * Applies one deduplicated driver interval (check {@link rejects} first); emits any interval that
   * became complete. Throws, changing nothing, when the message's histograms do not decode or its
   * steps or scenarios are not the test's.
   * A driver declared lost still counts what it delivers until the test ends; its final message
   * shows it was not lost after all.
   */
  apply(m: MetricsMessage): void {
    const d = this.drivers.get(m.driverId);
    if (!d || d.finished || this.sealed) return;
    const decoded = decodeRun(m, this.layout);
    const wasBehind = this.isBehind(d);
    const seq = Number(m.seq);
    const hasData =
      m.requests > 0n || m.dropped > 0n || m.latencyHistogram.length > 0 || m.failedLatencyHistogram.length > 0 || m.steps.length > 0 || m.scenarios.length > 0;
    if (hasData || !m.final) {
      d.totals.addDecoded(m, decoded);
      cover(d.covered, seq);
      let acc = this.pending.get(seq);
      if (!acc && seq >= this.nextInterval) this.pending.set(seq, (acc = new RunAccumulator(this.layout)));
      // A straggler for an interval already emitted still counts in the totals.
      (acc ?? this.cumulative).addDecoded(m, decoded);
      this.maxSeq = Math.max(this.maxSeq, seq);
    }
    d.lastSeq = Math.max(d.lastSeq, seq);
    if (m.intervalStart && (hasData || m.startSkewUs !== 0n)) d.skewUs = m.startSkewUs;
    if (m.final) {
      d.finished = true;
      d.lost = false;
      d.message = m.error;
      d.dataExhausted = [...m.dataExhausted];
    }
    if (wasBehind && !this.isBehind(d) && this.behind > 0) this.behind--;
    if (this.test.state === TestState.STARTING && hasData) this.setState(TestState.RUNNING);
    this.emitReady(false);
  }

  /** Marks a driver lost (missing, left, or past a deadline); its data so far is kept. */
  lose(driverId: string, message: string): void {
    const d = this.drivers.get(driverId);
    if (!d || d.finished || d.lost) return;
    const wasBehind = this.isBehind(d);
    d.lost = true;
    d.message = message;
    this.onLose(driverId, message, d.lastSeq + 1);
    if (wasBehind && this.behind > 0) this.behind--;
    this.emitReady(false);
  }

  /**
   * Sets the start instant of a test that waited for its drivers to hold their data files (its
   * start_at was provisional); nothing has been applied before it.
   */
  startsAt(startAt: Timestamp): void {
    this.test = clone(TestSchema, this.test);
    this.test.startAt = startAt;
    this.startAtMs = msOf(startAt);
    this.broadcast(this.progress());
  }

  /** Moves the test to a non-terminal state and tells watchers. */
  setState(state: TestState): void {
    this.test = clone(TestSchema, this.test);
    this.test.state = state;
    this.broadcast(this.progress());
  }

  /** Subscribes a watcher: it gets the current state first, then every update. */
  watch(listener: (u: TestUpdate) => void): () => void {
    listener(this.progress(this.cumulativeStats()));
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Begins the end of the run: emits every interval received so far; nothing more is applied. */
  seal(): void {
    this.emitReady(true);
    this.sealed = true;
  }

  /**
   * Ends the run ({@link seal} first): builds and returns the final test and report, whose interval
   * series comes from the store (`series`, downsampled on long runs).
   */
  finish(ending: Ending, series: Series, nowMs = Date.now(), clockOf: (driverId: string) => ClockOffset | undefined = () => undefined): { test: Test; report: Report } {
    this.seal();
    const lost = [...this.drivers.values()].filter((d) => d.lost || d.message);
    const test = clone(TestSchema, this.test);
    test.state = ending.state;
    test.endedAt = timestampAt(nowMs);
    test.partial = lost.length > 0 && ending.state === TestState.COMPLETED;
    test.message = [ending.message, ...lost.map((d) => d.message)].filter(Boolean).join("; ");
    const endMs = Number.isFinite(this.cumulative.total.endMs) ? this.cumulative.total.endMs : nowMs;
    test.outcome = judgeOutcome(this.cumulative.total.failureCounts(), test.spec, test.state, test.message);
    if (this.thresholds.any)
      withThresholds(test.outcome, this.thresholds.results(this.cumulative, this.startAtMs, endMs, true, this.abortMessage !== undefined));
    this.test = test;

    const report = create(ReportSchema, {
      testId: test.id,
      state: test.state,
      partial: test.partial,
      message: test.message,
      ...(test.startAt ? { startAt: test.startAt } : {}),
      ...(test.endedAt ? { endedAt: test.endedAt } : {}),
      total: this.cumulative.toStats({ withHistogram: true, startMs: this.startAtMs, endMs, every: true }),
      drivers: driverReports(this.drivers.values(), this.startAtMs, clockOf),
      intervals: series.intervals,
      intervalStep: series.step,
      intervalCount: this.nextInterval,
      outcome: test.outcome,
      fleetStartSkewUs: fleetStartSkewUs(this.drivers.values()),
      ...(test.spec ? { spec: test.spec } : {}),
    });
    this.broadcast({ test, cumulative: report.total!, drivers: this.driverProgress(), report });
    this.listeners.clear();
    return { test, report };
  }

  /** The orchestrator has stored the end and let go of the run: {@link whenEnded} settles. */
  ended(): void {
    this.markEnded();
  }

  /** Emits complete intervals in order; with `force`, every interval received so far. */
  private emitReady(force: boolean): void {
    while (this.nextInterval <= this.maxSeq) {
      const k = this.nextInterval;
      if (!force && !this.nextIntervalComplete()) return;
      const acc = this.pending.get(k) ?? NOTHING;
      this.pending.delete(k);
      if (acc !== NOTHING) this.cumulative.addAll(acc);
      const windowStart = this.startAtMs + k * this.intervalMs;
      const endMs = Number.isFinite(acc.total.endMs) ? Math.min(acc.total.endMs, windowStart + this.intervalMs) : windowStart + this.intervalMs;
      if (this.thresholds.any) {
        const breach = this.thresholds.interval(k, acc, this.cumulative, this.startAtMs, endMs);
        if (breach) this.onBreach(breach);
      }
      if (acc !== NOTHING || this.thresholds.any) this.judge(endMs);
      const stats = acc.toStats({ withHistogram: true, interval: k, startMs: windowStart, endMs });
      this.onInterval(stats);
      this.lastInterval = withoutHistograms(stats);
      this.nextInterval++;
      this.behind = -1;
      if (this.listeners.size > 0) this.broadcast(this.progress(this.cumulativeStats(), withoutHistograms(stats)));
    }
  }

  /** Judges the results so far into the test's outcome (a new Test: a sent one is never changed). */
  private judge(endMs: number): void {
    this.test = clone(TestSchema, this.test);
    this.test.outcome = judgeOutcome(this.cumulative.total.failureCounts(), this.test.spec, this.test.state);
    if (this.thresholds.any) withThresholds(this.test.outcome, this.thresholds.results(this.cumulative, this.startAtMs, endMs, false, false));
  }

  private isBehind(d: DriverProgressState): boolean {
    return !d.finished && !d.lost && d.lastSeq < this.nextInterval;
  }

  /** Every active driver has moved past interval nextInterval. */
  private nextIntervalComplete(): boolean {
    if (this.behind < 0) {
      let n = 0;
      for (const d of this.drivers.values()) if (this.isBehind(d)) n++;
      this.behind = n;
    }
    return this.behind === 0;
  }

  /** Everything merged so far (percentiles, no histogram; every step of a scenario test). */
  cumulativeStats(): Stats {
    return this.cumulative.toStats({ startMs: this.startAtMs, every: true });
  }

  private driverProgress(): DriverProgress[] {
    return [...this.drivers.values()].map((d) =>
      create(DriverProgressSchema, {
        driverId: d.id,
        requests: BigInt(d.totals.total.requests),
        lastSeq: BigInt(Math.max(0, d.lastSeq)),
        finished: d.finished,
        lost: d.lost,
        startSkewUs: d.skewUs ?? 0n,
      }),
    );
  }

  private progress(cumulative?: Stats, interval?: Stats): TestUpdate {
    return { test: this.test, drivers: this.driverProgress(), ...(cumulative ? { cumulative } : {}), ...(interval ? { interval } : {}) };
  }

  private broadcast(u: TestUpdate): void {
    for (const l of this.listeners) l(u);
  }
}
