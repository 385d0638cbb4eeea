import { timestampAt } from "../../metrics/stats.js";
import { create } from "@bufbuild/protobuf";
import { MetricsMessageSchema, type MetricsMessage } from "../../gen/kannon/v1/bus_pb.js";
import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { nowMs } from "../clock.js";
import type { Share } from "../load/executor.js";
import { executorFor, InlineLoadPart, type DataPart, type LoadPart, type LoadPartOptions } from "../load/load.js";
import { mergeSnapshots } from "../load/merge-snapshots.js";
import { emptySnapshot, type IntervalSnapshot, type SampleTap } from "../load/recorder.js";
import { snapshotFields } from "./snapshot-fields.js";
import type { TransportKind } from "../transport/transport.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../../workload/defaults.js";

/** How long a driver keeps trying to deliver one metrics message before it gives it up. */
export const METRICS_RETRY_MS = 120_000;
/**
 * Most metrics messages a driver holds while the data plane is unreachable (10,000 intervals: 16
 * minutes at the shortest interval, hours at the default); beyond it an interval is dropped, and
 * the count of dropped intervals goes into the final message.
 */
export const MAX_BUFFERED_METRICS = 10_000;
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
  /** Which transport sends the requests (LoadPartOptions.transport). */
  transport?: TransportKind | undefined;
  /** How long one metrics message is retried before it is given up (default {@link METRICS_RETRY_MS}). */
  retryMs?: number | undefined;
  /** Most metrics messages held while the data plane is unreachable (default {@link MAX_BUFFERED_METRICS}). */
  maxBuffered?: number | undefined;
  /**
   * Makes the load parts: one per thread, each sending its thread's part of the test. Default:
   * one part, inline in this thread.
   */
  parts?: ((o: Omit<LoadPartOptions, "thread">) => LoadPart[]) | undefined;
  /** This driver's part of each data file (LoadPartOptions.data); dropped with the run. */
  data?: ReadonlyMap<string, DataPart> | undefined;
}

/**
 * One test on one driver: waits for the common start, runs the workload, publishes an interval of
 * metrics at every boundary from the start and a final message when it ends (or is cancelled).
 */
export class TestRun {
  private readonly intervalMs: number;
  private readonly parts: LoadPart[];
  private cancelled = false;
  private seq = 0;
  private skewUs = 0n;
  private publishing: Promise<void> = Promise.resolve();
  /** Messages queued or being delivered. */
  private buffered = 0;
  /** Intervals that could not be delivered (buffer full, or retried for too long). */
  private undelivered = 0;
  private stopReason = "";
  /** Data files whose rows ran out on one of the parts (the final message's data_exhausted). */
  private readonly exhausted = new Set<string>();
  private started = false;
  /** Set when the driver shuts down for good: undelivered metrics are not retried any more. */
  private abandoned = false;
  /** This driver's share of the fleet's schedule, changed by {@link reshare}. */
  private readonly share: Share;

  constructor(private readonly o: TestRunOptions) {
    this.o = { ...o, maxBuffered: o.maxBuffered ?? MAX_BUFFERED_METRICS };
    const spec = o.spec;
    this.intervalMs = spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
    executorFor(spec); // throws for a spec without a workload: the driver refuses the test
    this.share = { index: o.driverIndex, count: o.driverCount, sinceMs: 0, version: 0 };
    const partOptions = { spec, share: { ...this.share }, onSample: o.onSample, transport: o.transport, data: o.data };
    const withId = { ...partOptions, driverId: o.driverId };
    this.parts = o.parts ? o.parts(withId) : [new InlineLoadPart({ ...withId, thread: { index: 0, count: 1 } })];
    for (const part of this.parts) {
      part.onHalt = (reason) => {
        this.stopReason ||= `driver ${this.o.driverId}: ${reason}`;
      };
      part.onDataExhausted = (file) => void this.exhausted.add(file);
    }
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
    } else Object.assign(this.share, { index, count: driverIds.length, sinceMs, version: this.share.version + 1 });
    for (const part of this.parts) part.reshare({ ...this.share });
    return index >= 0;
  }

  /** Stops the run as soon as possible; the final message carries `reason` as its error when set. */
  cancel(reason = ""): void {
    this.stopReason ||= reason;
    this.cancelled = true;
    for (const part of this.parts) part.cancel();
  }

  /** Stops retrying undelivered metrics (the driver is going away). */
  abandon(): void {
    this.abandoned = true;
  }

  /** Every part's interval, merged into the driver's one. */
  private async take(): Promise<IntervalSnapshot> {
    return mergeSnapshots(await Promise.all(this.parts.map((p) => p.take())));
  }

  /** Runs the test from `startAtMs` to its end; never rejects. */
  async run(startAtMs: number): Promise<void> {
    let boundary: NodeJS.Timeout | undefined;
    /** Interval snapshots in the order they were taken, published in that order. */
    let snapshots: Promise<void> = Promise.resolve();
    try {
      const scheduleBoundary = () => {
        const at = startAtMs + (this.seq + 1) * this.intervalMs;
        boundary = setTimeout(() => {
          const taken = this.take();
          const seq = this.seq;
          snapshots = snapshots.then(async () => this.publishSnapshot(await taken, seq, startAtMs, false, ""));
          // If the loop fell behind by whole intervals, skip to the interval we are in.
          this.seq = Math.max(this.seq + 1, Math.floor((nowMs() - startAtMs) / this.intervalMs));
          scheduleBoundary();
        }, Math.max(0, at - nowMs()));
      };
      for (const part of this.parts)
        part.onStarted = () => {
          if (this.started || this.cancelled) return;
          this.started = true;
          scheduleBoundary();
        };
      const settled = await Promise.allSettled(this.parts.map((part) => part.run(startAtMs)));
      clearTimeout(boundary);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      // The skew this driver reports is its latest thread's.
      const starts = settled.map((r) => (r as PromiseFulfilledResult<number | undefined>).value).filter((v): v is number => v !== undefined);
      if (starts.length > 0) this.skewUs = BigInt(Math.round((Math.max(...starts) - startAtMs) * 1000));
      await snapshots;
      this.publishSnapshot(await this.take(), this.seq, startAtMs, true, this.stopReason);
    } catch (err) {
      clearTimeout(boundary);
      for (const part of this.parts) part.cancel();
      this.o.log(`driver ${this.o.driverId}: test ${this.o.testId} failed: ${String(err)}`);
      await snapshots;
      const last = await this.take().catch(() => undefined);
      this.publishSnapshot(last ?? emptySnapshot(), this.seq, startAtMs, true, `driver ${this.o.driverId} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      for (const part of this.parts) part.close();
      await this.publishing;
    }
  }

  private publishSnapshot(s: IntervalSnapshot, seq: number, startAtMs: number, final: boolean, error: string): void {
    if (!final && this.buffered >= this.o.maxBuffered!) {
      this.undelivered++;
      this.o.log(`driver ${this.o.driverId}: ${this.buffered} metrics messages wait for the data plane; interval ${seq} of test ${this.o.testId} is dropped`);
      return;
    }
    const startMs = startAtMs + seq * this.intervalMs;
    const endMs = final ? Math.max(startMs, nowMs()) : startMs + this.intervalMs;
    const skewUs = this.skewUs;
    const message = () =>
      create(MetricsMessageSchema, {
        testId: this.o.testId,
        driverId: this.o.driverId,
        seq: BigInt(seq),
        intervalStart: timestampAt(startMs),
        intervalEnd: timestampAt(endMs),
        ...snapshotFields(s),
        final,
        startSkewUs: skewUs,
        error: final ? this.finalError(error) : error,
        dataExhausted: final ? [...this.exhausted].sort() : [],
      });
    this.buffered++;
    // Built in its turn: the final message counts the intervals lost before it only once every
    // earlier delivery has settled (one still being retried may yet be given up).
    this.publishing = this.publishing.then(() => this.deliver(message(), seq)).finally(() => this.buffered--);
  }

  /** The final message's error: `error`, and how many intervals could not be delivered. */
  private finalError(error: string): string {
    if (this.undelivered === 0) return error;
    return [error, `driver ${this.o.driverId} could not deliver ${this.undelivered} interval(s) of metrics (data plane unreachable)`].filter(Boolean).join("; ");
  }

  /**
   * Publishes one metrics message, trying again with backoff for up to {@link METRICS_RETRY_MS}
   * (the data plane may be down for a while: a broker restart). Messages stay in order; the
   * orchestrator ignores a copy it has already applied, so retrying is safe.
   */
  private async deliver(message: MetricsMessage, seq: number): Promise<void> {
    const giveUpAt = nowMs() + (this.o.retryMs ?? METRICS_RETRY_MS);
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
