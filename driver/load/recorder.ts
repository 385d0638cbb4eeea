import { createLatencyHistogram, encodeHistogram, recordUs, type Histogram } from "../../metrics/histogram.js";
import { isFailedStatus } from "../../metrics/outcome.js";
import type { Outcomes } from "../transport/transport.js";

const NONE = new Uint8Array(0);

/** A histogram's encoding (empty when absent or empty), resetting it. */
function takeEncoded(h: Histogram | undefined): Uint8Array {
  if (!h || h.totalCount === 0) return NONE;
  const encoded = encodeHistogram(h);
  h.reset();
  return encoded;
}

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
  /** RPCs by code (`ok`, `unavailable`, …); a code other than `ok` is also in errorCounts as `rpc_CODE`. */
  codeCounts: Map<string, number>;
  /** Responses (HTTP or RPC) by the protocol that carried them (`http/1.1`, `h2`); totals only. */
  protocolCounts: Map<string, number>;
  /** TLS handshakes in microseconds (encoded as latencyHistogram; empty: none); totals only. */
  handshakeHistogram: Uint8Array;
  /** Server streams: send → first message in microseconds (empty: none). */
  firstMessageHistogram: Uint8Array;
  /** Server streams: response messages received. */
  messagesReceived: number;
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

/** An interval that counted nothing. */
export function emptySnapshot(): IntervalSnapshot {
  return {
    requests: 0,
    statusCounts: new Map(),
    errorCounts: new Map(),
    bytesReceived: 0,
    dropped: 0,
    late: 0,
    latencyHistogram: NONE,
    serviceTimeHistogram: NONE,
    failedLatencyHistogram: NONE,
    codeCounts: new Map(),
    protocolCounts: new Map(),
    handshakeHistogram: NONE,
    firstMessageHistogram: NONE,
    messagesReceived: 0,
  };
}

/** The protocol a response used when its transport names none. */
const DEFAULT_PROTOCOL = "http/1.1";

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
 * in a histogram of its own, out of the response-time ones. An RPC is counted by code; a code other
 * than `ok` is a failure (error kind `rpc_CODE`, failed histogram) and its HTTP status is not
 * counted. Every response (HTTP or RPC) is `http/1.1` unless its transport says otherwise
 * ({@link protocol}).
 */
export class IntervalRecorder implements Outcomes {
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
  private codeCounts = new Map<string, number>();
  /** Responses (HTTP or RPC) recorded; those not named in `protocols` were `http/1.1`. */
  private responded = 0;
  private protocols = new Map<string, number>();
  /** Allocated at the first TLS handshake or stream message (most tests have neither). */
  private handshakes: Histogram | undefined;
  private firstMessage: Histogram | undefined;
  private messages = 0;
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
    this.responded++;
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

  /**
   * An RPC that ended with `code` (see Outcomes.rpc): counted by code, a code other than `ok` also
   * as error kind `rpc_CODE` with its latency in the failed histogram. A stream's messages are
   * counted, and its first message timed from the send when `firstMessageMs` is a time.
   */
  rpc(code: string, bytes: number, scheduledMs: number, sentMs: number, endMs: number, messages: number, firstMessageMs: number): void {
    if (this.closed) return;
    this.requests++;
    this.responded++;
    this.bytes += bytes;
    this.codeCounts.set(code, (this.codeCounts.get(code) ?? 0) + 1);
    const failed = code !== "ok";
    if (failed) {
      const kind = `rpc_${code}`;
      this.errorCounts.set(kind, (this.errorCounts.get(kind) ?? 0) + 1);
    }
    this.messages += messages;
    if (Number.isFinite(firstMessageMs)) recordUs((this.firstMessage ??= createLatencyHistogram()), (firstMessageMs - sentMs) * 1000);
    this.time(failed, scheduledMs, sentMs, endMs);
  }

  /** The response just recorded came over `name` (`http/1.1` needs no call: it is the default). */
  protocol(name: string): void {
    if (this.closed || name === DEFAULT_PROTOCOL) return;
    this.protocols.set(name, (this.protocols.get(name) ?? 0) + 1);
  }

  /** A TLS handshake took `ms` (TCP connected → handshake done). */
  handshake(ms: number): void {
    if (!this.closed) recordUs((this.handshakes ??= createLatencyHistogram()), ms * 1000);
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
      codeCounts: this.codeCounts,
      protocolCounts: this.takeProtocolCounts(),
      handshakeHistogram: takeEncoded(this.handshakes),
      firstMessageHistogram: takeEncoded(this.firstMessage),
      messagesReceived: this.messages,
    };
    this.latency.reset();
    this.service.reset();
    this.failed.reset();
    this.requests = 0;
    this.bytes = 0;
    this.dropped = 0;
    this.late = 0;
    this.errorCounts = new Map();
    this.codeCounts = new Map();
    this.messages = 0;
    return snapshot;
  }

  private takeProtocolCounts(): Map<string, number> {
    let named = 0;
    for (const n of this.protocols.values()) named += n;
    const counts = new Map<string, number>();
    if (this.responded > named) counts.set(DEFAULT_PROTOCOL, this.responded - named);
    for (const [name, n] of [...this.protocols].sort((a, b) => (a[0] < b[0] ? -1 : 1))) counts.set(name, n);
    this.responded = 0;
    this.protocols = new Map();
    return counts;
  }

  private takeStatusCounts(): Map<number, number> {
    const counts = this.otherStatus;
    for (let status = 0; status < 600; status++) if (this.statusCounts[status]! > 0) counts.set(status, this.statusCounts[status]!);
    this.statusCounts.fill(0);
    this.otherStatus = new Map();
    return new Map([...counts].sort((a, b) => a[0] - b[0]));
  }
}
