import { timestampAt } from "../metrics/stats.js";
import { create } from "@bufbuild/protobuf";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { arrivalRate } from "./arrival-rate.js";
import { avalanche } from "./avalanche.js";
import { nowMs, waitForInstant } from "./clock.js";
import type { Executor, Share } from "./executor.js";
import { HttpFirer } from "./http.js";
import { IntervalRecorder, type IntervalSnapshot, type SampleTap } from "./recorder.js";
import { tsunami } from "./tsunami.js";
import { DEFAULT_REPORT_INTERVAL_MS, DEFAULT_REQUEST_TIMEOUT_MS, LATE_START_MS } from "../workload/defaults.js";

/** How long a driver keeps trying to deliver one metrics message before it gives it up. */
export const METRICS_RETRY_MS = 120_000;
/**
 * Most metrics messages a driver holds while the data plane is unreachable (10,000 intervals: 16
 * minutes at the shortest interval, hours at the default); beyond it an interval is dropped, and
 * the count of dropped intervals goes into the final message.
 */
export const MAX_BUFFERED_METRICS = 10_000;
/** After a cancel, in-flight requests get this long before they are aborted. */
export const CANCEL_DRAIN_MS = 1000;

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

/** Options of a {@link TestRun}. */
export interface TestRunOptions {
  testId: string;
  driverId: string;
  spec: TestSpec;
  driverIndex: number;
  driverCount: number;
  /** Publishes one metrics message; awaited in order. */
  publish: (message: MetricsMessage) => Promise<void>;
  log: (message: string) => void;
  onSample?: SampleTap | undefined;
  /** Most metrics messages held while the data plane is unreachable (default {@link MAX_BUFFERED_METRICS}). */
  maxBuffered?: number | undefined;
}

/**
 * One test on one driver: waits for the common start, runs the workload, publishes an interval of
 * metrics at every boundary from the start and a final message when it ends (or is cancelled).
 */
export class TestRun {
  private readonly abort = new AbortController();
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly recorder: IntervalRecorder;
  private readonly executor: Executor;
  private seq = 0;
  private skewUs = 0n;
  private publishing: Promise<void> = Promise.resolve();
  /** Messages queued or being delivered. */
  private buffered = 0;
  /** Intervals that could not be delivered (buffer full, or retried for too long). */
  private undelivered = 0;
  private stopReason = "";
  private started = false;
  /** Set when the driver shuts down for good: undelivered metrics are not retried any more. */
  private abandoned = false;
  /** This driver's share of the fleet's schedule, changed in place by {@link reshare}. */
  private readonly share: Share;

  constructor(private readonly o: TestRunOptions) {
    this.o = { ...o, maxBuffered: o.maxBuffered ?? MAX_BUFFERED_METRICS };
    const spec = o.spec;
    this.intervalMs = spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
    this.timeoutMs = spec.requestTimeoutMs || DEFAULT_REQUEST_TIMEOUT_MS;
    this.executor = executorFor(spec);
    this.recorder = new IntervalRecorder(spec.workload.case !== "avalanche", o.onSample);
    this.share = { index: o.driverIndex, count: o.driverCount, sinceMs: 0, version: 0 };
  }

  /**
   * Takes a new share of the fleet's schedule from `sinceMs` on (after the orchestrator re-split it
   * over `driverIds`); returns false when this driver is not among them.
   */
  reshare(driverIds: readonly string[], sinceMs: number): boolean {
    const index = driverIds.indexOf(this.o.driverId);
    if (index < 0) {
      // Declared lost meanwhile: the others own this share from sinceMs on.
      Object.assign(this.share, { index: -1, count: 0, sinceMs, version: this.share.version + 1 });
      this.stopReason ||= `driver ${this.o.driverId} was re-split out of the schedule (declared lost) and stopped its share`;
      return false;
    }
    Object.assign(this.share, { index, count: driverIds.length, sinceMs, version: this.share.version + 1 });
    return true;
  }

  /** Stops the run as soon as possible; the final message carries `reason` as its error when set. */
  cancel(reason = ""): void {
    this.stopReason ||= reason;
    this.abort.abort();
  }

  /** Stops retrying undelivered metrics (the driver is going away). */
  abandon(): void {
    this.abandoned = true;
  }

  /** True once the start instant was reached and requests began. */
  get hasStarted(): boolean {
    return this.started;
  }

  /** Runs the test from `startAtMs` to its end; never rejects. */
  async run(startAtMs: number): Promise<void> {
    const spec = this.o.spec;
    let firer: HttpFirer | undefined;
    let boundary: NodeJS.Timeout | undefined;
    try {
      const url = new URL(spec.targetUrl);
      const connections =
        spec.workload.case === "avalanche" ? spec.workload.value.concurrency : null;
      firer = new HttpFirer(
        {
          url,
          method: spec.method.toUpperCase() || "GET",
          headers: spec.headers,
          body: spec.body.length > 0 ? spec.body : undefined,
          timeoutMs: this.timeoutMs,
        },
        this.recorder,
        connections,
      );
      await waitForInstant(startAtMs, this.abort.signal);
      const startedMs = nowMs();
      this.skewUs = BigInt(Math.round((startedMs - startAtMs) * 1000));
      if (this.abort.signal.aborted) {
        this.publishFinal(startAtMs, this.stopReason);
        return;
      }
      this.started = true;
      const scheduleBoundary = () => {
        const at = startAtMs + (this.seq + 1) * this.intervalMs;
        boundary = setTimeout(() => {
          // If the loop fell behind by whole intervals, skip to the interval we are in.
          const snapshot = this.recorder.take();
          this.publishSnapshot(snapshot, startAtMs, false, "");
          this.seq = Math.max(this.seq + 1, Math.floor((nowMs() - startAtMs) / this.intervalMs));
          scheduleBoundary();
        }, Math.max(0, at - nowMs()));
      };
      scheduleBoundary();
      const stopAtMs = spec.maxDurationMs > 0 ? startAtMs + spec.maxDurationMs : Number.POSITIVE_INFINITY;
      await this.executor({
        firer,
        recorder: this.recorder,
        // A late driver runs its whole schedule from its own start rather than bursting to catch up.
        startMs: startedMs - startAtMs > LATE_START_MS ? startedMs : startAtMs,
        stopAtMs,
        signal: this.abort.signal,
        share: this.share,
        halt: (reason) => {
          this.stopReason ||= `driver ${this.o.driverId}: ${reason}`;
        },
      });
      const drainFor = this.abort.signal.aborted ? CANCEL_DRAIN_MS : this.timeoutMs + 1000;
      if (!(await firer.drain(nowMs() + drainFor))) {
        // Still in flight after the drain: abort them now, so that they are counted (as `aborted`
        // errors) in the final message instead of vanishing from the metrics after reaching the target.
        await firer.close(true).catch(() => undefined);
        await firer.drain(nowMs() + 100);
      }
      clearTimeout(boundary);
      this.publishFinal(startAtMs, this.stopReason);
    } catch (err) {
      clearTimeout(boundary);
      this.o.log(`driver ${this.o.driverId}: test ${this.o.testId} failed: ${String(err)}`);
      this.publishFinal(startAtMs, `driver ${this.o.driverId} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.recorder.closed = true;
      await firer?.close(true).catch(() => undefined);
      await this.publishing;
    }
  }

  private publishFinal(startAtMs: number, error: string): void {
    this.publishSnapshot(this.recorder.take(), startAtMs, true, error);
  }

  private publishSnapshot(s: IntervalSnapshot, startAtMs: number, final: boolean, error: string): void {
    if (!final && this.buffered >= this.o.maxBuffered!) {
      this.undelivered++;
      this.o.log(`driver ${this.o.driverId}: ${this.buffered} metrics messages wait for the data plane; interval ${this.seq} of test ${this.o.testId} is dropped`);
      return;
    }
    if (final && this.undelivered > 0)
      error = [error, `driver ${this.o.driverId} could not deliver ${this.undelivered} interval(s) of metrics (data plane unreachable)`].filter(Boolean).join("; ");
    const seq = this.seq;
    const startMs = startAtMs + seq * this.intervalMs;
    const endMs = final ? Math.max(startMs, nowMs()) : startMs + this.intervalMs;
    const message = create(MetricsMessageSchema, {
      testId: this.o.testId,
      driverId: this.o.driverId,
      seq: BigInt(seq),
      intervalStart: timestampAt(startMs),
      intervalEnd: timestampAt(endMs),
      requests: BigInt(s.requests),
      statusCounts: Object.fromEntries([...s.statusCounts].map(([k, v]) => [k, BigInt(v)])),
      errorCounts: Object.fromEntries([...s.errorCounts].map(([k, v]) => [k, BigInt(v)])),
      bytesReceived: BigInt(s.bytesReceived),
      latencyHistogram: s.latencyHistogram,
      serviceTimeHistogram: s.serviceTimeHistogram,
      dropped: BigInt(s.dropped),
      late: BigInt(s.late),
      final,
      startSkewUs: this.skewUs,
      error,
    });
    this.buffered++;
    this.publishing = this.publishing.then(() => this.deliver(message, seq)).finally(() => this.buffered--);
  }

  /**
   * Publishes one metrics message, trying again with backoff for up to {@link METRICS_RETRY_MS}
   * (the data plane may be down for a while: a broker restart). Messages stay in order; the
   * orchestrator ignores a copy it has already applied, so retrying is safe.
   */
  private async deliver(message: MetricsMessage, seq: number): Promise<void> {
    const giveUpAt = nowMs() + METRICS_RETRY_MS;
    for (let backoff = 500; ; backoff = Math.min(backoff * 2, 10_000)) {
      try {
        await this.o.publish(message);
        return;
      } catch (err) {
        const last = nowMs() + backoff > giveUpAt;
        this.o.log(
          `driver ${this.o.driverId}: could not publish metrics seq ${seq} of test ${this.o.testId}: ${String(err)}` +
            (last ? "; giving up: this interval is lost" : `; trying again in ${backoff} ms`),
        );
        if (last) this.undelivered++;
        if (last || this.abandoned) return;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  }
}
