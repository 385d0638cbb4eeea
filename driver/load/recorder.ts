import { createLatencyHistogram, encodeHistogram, recordUs, type Histogram } from "../../metrics/histogram.js";
import { isFailedStatus } from "../../metrics/outcome.js";

/** What one interval of a driver's run measured, ready to publish. */
export interface IntervalSnapshot {
  requests: number;
  statusCounts: Map<number, number>;
  errorCounts: Map<string, number>;
  bytesReceived: number;
  dropped: number;
  late: number;
  latencyHistogram: Uint8Array;
  serviceTimeHistogram: Uint8Array;
  /** Latency of the requests that failed (see isFailedStatus), measured as latencyHistogram is. */
  failedLatencyHistogram: Uint8Array;
  /**
   * Scenario tests only: per step that counted something this interval, in ascending step index
   * (the fields above are the sum over every step).
   */
  steps?: StepSnapshot[] | undefined;
  /** Scenario tests only: per scenario that ended an iteration this interval, in ascending index. */
  scenarios?: ScenarioSnapshot[] | undefined;
}

/** One step's interval (bus.proto StepMetrics). */
export interface StepSnapshot {
  /** The step's index in the test's flattened steps. */
  stepIndex: number;
  /** The step's own requests, statuses, errors, bytes and histograms (no dropped or late: those are the total's). */
  counts: IntervalSnapshot;
  /** Per check of the step, in the step's order. */
  checks: { name: string; passed: number; failed: number }[];
  captureMissing: number;
  abortedIterations: number;
}

/** One scenario's interval (bus.proto ScenarioMetrics). */
export interface ScenarioSnapshot {
  scenarioIndex: number;
  /** Iterations that ended (completed or aborted). */
  iterations: number;
  aborted: number;
  /** Each ended iteration's duration in microseconds, think time excluded (encoded as latencyHistogram). */
  iterationHistogram: Uint8Array;
}

/**
 * A test-only tap on every recorded request: latency and service time in microseconds, and when
 * it was sent (epoch ms). Not for production use: it costs a call per request.
 */
export type SampleTap = (latencyUs: number, serviceTimeUs: number, sentMs: number) => void;

/**
 * Records the current interval of a run: HDR histograms and counters, nothing per request.
 * `scheduled` workloads measure latency from each request's scheduled start and keep the service
 * time (from the actual send) apart; avalanche measures latency from the send only. A failed
 * request (a transport error, or a status outside 100..399: metrics/outcome.ts) has its latency
 * in a histogram of its own, out of the response-time ones.
 */
export class IntervalRecorder {
  private latency: Histogram = createLatencyHistogram();
  private service: Histogram = createLatencyHistogram();
  private failed: Histogram = createLatencyHistogram();
  private requests = 0;
  private bytes = 0;
  private dropped = 0;
  private late = 0;
  /** Counts by HTTP status 0..599 (a plain array: no map lookup per request); others in `otherStatus`. */
  private statusCounts = new Float64Array(600);
  private otherStatus = new Map<number, number>();
  private errorCounts = new Map<string, number>();
  /** Once closed (after a cancel), late completions are ignored. */
  closed = false;

  constructor(
    private readonly scheduled: boolean,
    private readonly tap?: SampleTap,
  ) {}

  /** A request answered with an HTTP status. Times in epoch milliseconds (fractional). */
  response(status: number, bytes: number, scheduledMs: number, sentMs: number, endMs: number): void {
    if (this.closed) return;
    this.requests++;
    this.bytes += bytes;
    if (status >= 0 && status < 600) this.statusCounts[status]!++;
    else this.otherStatus.set(status, (this.otherStatus.get(status) ?? 0) + 1);
    this.time(isFailedStatus(status), scheduledMs, sentMs, endMs);
  }

  /** A request that failed without a response (`kind` such as `connect_refused`, `timeout`). */
  error(kind: string, scheduledMs: number, sentMs: number, endMs: number): void {
    if (this.closed) return;
    this.requests++;
    this.errorCounts.set(kind, (this.errorCounts.get(kind) ?? 0) + 1);
    this.time(true, scheduledMs, sentMs, endMs);
  }

  /** A scheduled request that could not be started (open model at its in-flight cap). */
  drop(count = 1): void {
    if (!this.closed) this.dropped += count;
  }

  /** A scheduled request that started behind its schedule. */
  lateStart(): void {
    if (!this.closed) this.late++;
  }

  private time(failed: boolean, scheduledMs: number, sentMs: number, endMs: number): void {
    const serviceUs = (endMs - sentMs) * 1000;
    const latencyUs = this.scheduled ? (endMs - scheduledMs) * 1000 : serviceUs;
    if (failed) recordUs(this.failed, latencyUs);
    else {
      recordUs(this.latency, latencyUs);
      if (this.scheduled) recordUs(this.service, serviceUs);
    }
    this.tap?.(latencyUs, serviceUs, sentMs);
  }

  /** Takes the interval's numbers and starts a new interval. */
  take(): IntervalSnapshot {
    const snapshot: IntervalSnapshot = {
      requests: this.requests,
      statusCounts: this.takeStatusCounts(),
      errorCounts: this.errorCounts,
      bytesReceived: this.bytes,
      dropped: this.dropped,
      late: this.late,
      latencyHistogram: encodeHistogram(this.latency),
      serviceTimeHistogram: this.scheduled ? encodeHistogram(this.service) : new Uint8Array(0),
      failedLatencyHistogram: encodeHistogram(this.failed),
    };
    this.latency.reset();
    this.service.reset();
    this.failed.reset();
    this.requests = 0;
    this.bytes = 0;
    this.dropped = 0;
    this.late = 0;
    this.errorCounts = new Map();
    return snapshot;
  }

  private takeStatusCounts(): Map<number, number> {
    const counts = this.otherStatus;
    for (let status = 0; status < 600; status++) if (this.statusCounts[status]! > 0) counts.set(status, this.statusCounts[status]!);
    this.statusCounts.fill(0);
    this.otherStatus = new Map();
    return new Map([...counts].sort((a, b) => a[0] - b[0]));
  }
}
