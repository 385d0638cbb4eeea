import { addEncoded, createLatencyHistogram, encodeHistogram, recordUs, type Histogram } from "../../metrics/histogram.js";
import { IntervalRecorder, type IntervalSnapshot, type SampleTap, type ScenarioSnapshot, type StepSnapshot } from "../load/recorder.js";

/** The shape a {@link ScenarioRecorder} counts: every step's check names (flattened step order), and the number of scenarios. */
export interface RecorderShape {
  steps: readonly (readonly string[])[];
  scenarios: number;
}

/** One step's counters beside its own {@link IntervalRecorder}. */
class StepCounts {
  readonly recorder: IntervalRecorder;
  readonly passed: Float64Array;
  readonly failed: Float64Array;
  captureMissing = 0;
  aborted = 0;

  constructor(
    scheduled: boolean,
    readonly checks: readonly string[],
  ) {
    this.recorder = new IntervalRecorder(scheduled);
    this.passed = new Float64Array(checks.length);
    this.failed = new Float64Array(checks.length);
  }

  /** The step's interval, or undefined when it counted nothing; starts a new interval. */
  take(stepIndex: number): StepSnapshot | undefined {
    const counts = this.recorder.take();
    if (counts.requests === 0 && this.captureMissing === 0 && this.aborted === 0) return undefined;
    return { stepIndex, counts, ...this.takeCounters() };
  }

  /** The step's check counts, missing captures and aborted iterations; starts them anew. */
  takeCounters(): Pick<StepSnapshot, "checks" | "captureMissing" | "abortedIterations"> {
    const counters = {
      checks: this.checks.map((name, k) => ({ name, passed: this.passed[k]!, failed: this.failed[k]! })),
      captureMissing: this.captureMissing,
      abortedIterations: this.aborted,
    };
    this.passed.fill(0);
    this.failed.fill(0);
    this.captureMissing = 0;
    this.aborted = 0;
    return counters;
  }
}

/** One scenario's iterations. */
class ScenarioCounts {
  iterations = 0;
  aborted = 0;
  readonly duration: Histogram = createLatencyHistogram();

  take(scenarioIndex: number): ScenarioSnapshot | undefined {
    if (this.iterations === 0) return undefined;
    const snapshot = { scenarioIndex, iterations: this.iterations, aborted: this.aborted, iterationHistogram: encodeHistogram(this.duration) };
    this.iterations = 0;
    this.aborted = 0;
    this.duration.reset();
    return snapshot;
  }
}

/**
 * Records a scenario test's interval: the totals (an {@link IntervalRecorder}: the sum over every
 * step, plus the iterations dropped or started late), every step's own numbers (histograms,
 * statuses, errors, bytes, checks, missing captures, aborted iterations) and every scenario's
 * iterations with their duration histogram.
 */
export class ScenarioRecorder {
  /** The totals: the executors count dropped and late iterations here. */
  readonly total: IntervalRecorder;
  private readonly steps: StepCounts[];
  private readonly scenarios: ScenarioCounts[];
  private isClosed = false;
  /** Set for a one-step test on a single-request transport (see {@link recordOneStep}). */
  private oneStep: { step: number; scenario: number } | undefined;
  /** Set for a single-request test run as a scenario (see {@link recordTotalsOnly}). */
  private totalsOnly = false;

  constructor(scheduled: boolean, shape: RecorderShape, tap?: SampleTap) {
    this.total = new IntervalRecorder(scheduled, tap);
    this.steps = shape.steps.map((checks) => new StepCounts(scheduled, checks));
    this.scenarios = Array.from({ length: shape.scenarios }, () => new ScenarioCounts());
  }

  /** Once closed (after a cancel), late completions are ignored. */
  get closed(): boolean {
    return this.isClosed;
  }

  set closed(closed: boolean) {
    this.isClosed = closed;
    this.total.closed = closed;
    for (const s of this.steps) s.recorder.closed = closed;
  }

  /**
   * The test is one scenario of one step, run on a single-request transport: its requests are
   * recorded in the totals only ({@link total}), and each interval's step and scenario are derived
   * from them (the step's numbers are the totals', each request is an iteration whose duration is
   * its latency). Only checks and aborts are counted apart. Saves two histogram records a request.
   */
  recordOneStep(step: number, scenario: number): void {
    this.oneStep = { step, scenario };
  }

  /**
   * The test is a single request run as one scenario of one step (a TestSpec.rpc test): everything
   * is recorded in the totals only and an interval has no step or scenario rows, as a plain test's.
   */
  recordTotalsOnly(): void {
    this.totalsOnly = true;
  }

  /** Step `step`'s request answered with an HTTP status (see IntervalRecorder.response). */
  response(step: number, status: number, bytes: number, scheduledMs: number, sentMs: number, endMs: number): void {
    this.total.response(status, bytes, scheduledMs, sentMs, endMs);
    if (!this.totalsOnly) this.steps[step]!.recorder.response(status, bytes, scheduledMs, sentMs, endMs);
  }

  /** Step `step`'s request failed without a response (see IntervalRecorder.error). */
  error(step: number, kind: string, scheduledMs: number, sentMs: number, endMs: number): void {
    this.total.error(kind, scheduledMs, sentMs, endMs);
    if (!this.totalsOnly) this.steps[step]!.recorder.error(kind, scheduledMs, sentMs, endMs);
  }

  /** Step `step`'s RPC ended with `code` (see IntervalRecorder.rpc). */
  rpc(step: number, code: string, bytes: number, scheduledMs: number, sentMs: number, endMs: number, messages: number, firstMessageMs: number): void {
    this.total.rpc(code, bytes, scheduledMs, sentMs, endMs, messages, firstMessageMs);
    if (!this.totalsOnly) this.steps[step]!.recorder.rpc(code, bytes, scheduledMs, sentMs, endMs, messages, firstMessageMs);
  }

  /** Step `step`'s response just recorded came over `name`: counted in the totals only (StepMetrics has no protocols). */
  protocol(_step: number, name: string): void {
    this.total.protocol(name);
  }

  /** A TLS handshake took `ms`: counted in the totals only (a connection is not a step's). */
  handshake(ms: number): void {
    this.total.handshake(ms);
  }

  /** Check `check` of step `step` passed or failed on a response. */
  check(step: number, check: number, passed: boolean): void {
    if (this.isClosed) return;
    const s = this.steps[step]!;
    if (passed) s.passed[check]!++;
    else s.failed[check]!++;
  }

  /** A capture of step `step` found nothing. */
  captureMissing(step: number): void {
    if (!this.isClosed) this.steps[step]!.captureMissing++;
  }

  /** An iteration of scenario `scenario` ended: `durationMs` from its start to its last byte (think time excluded); `abortedAt` the step that ended it early. */
  iteration(scenario: number, durationMs: number, abortedAt?: number): void {
    if (this.isClosed || this.totalsOnly) return;
    const s = this.scenarios[scenario]!;
    s.iterations++;
    recordUs(s.duration, durationMs * 1000);
    if (abortedAt !== undefined) this.aborted(scenario, abortedAt);
  }

  /** An iteration of scenario `scenario` was ended early by step `step`. */
  aborted(scenario: number, step: number): void {
    if (this.isClosed) return;
    this.scenarios[scenario]!.aborted++;
    this.steps[step]!.aborted++;
  }

  /** Takes the interval's numbers and starts a new interval. */
  take(): IntervalSnapshot {
    const snapshot = this.total.take();
    if (this.totalsOnly) return snapshot;
    if (this.oneStep) return this.takeOneStep(snapshot, this.oneStep.step, this.oneStep.scenario);
    snapshot.steps = this.steps.map((s, i) => s.take(i)).filter((s) => s !== undefined);
    snapshot.scenarios = this.scenarios.map((s, i) => s.take(i)).filter((s) => s !== undefined);
    return snapshot;
  }

  /** The interval of a one-step test: its step and scenario from the totals (see {@link recordOneStep}). */
  private takeOneStep(snapshot: IntervalSnapshot, step: number, scenario: number): IntervalSnapshot {
    const counts: IntervalSnapshot = {
      ...snapshot,
      statusCounts: new Map(snapshot.statusCounts),
      errorCounts: new Map(snapshot.errorCounts),
      codeCounts: new Map(snapshot.codeCounts),
      dropped: 0,
      late: 0,
      protocolCounts: new Map(),
      handshakeHistogram: new Uint8Array(0),
    };
    const counters = this.steps[step]!.takeCounters();
    const sc = this.scenarios[scenario]!;
    const duration = createLatencyHistogram();
    addEncoded(duration, snapshot.latencyHistogram);
    addEncoded(duration, snapshot.failedLatencyHistogram);
    const aborted = sc.aborted;
    sc.aborted = 0;
    snapshot.steps = snapshot.requests > 0 ? [{ stepIndex: step, counts, ...counters }] : [];
    snapshot.scenarios = snapshot.requests > 0 ? [{ scenarioIndex: scenario, iterations: snapshot.requests, aborted, iterationHistogram: encodeHistogram(duration) }] : [];
    return snapshot;
  }
}
