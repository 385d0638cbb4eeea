import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { LatencyStatsSchema, StatsSchema, type LatencyStats, type Stats } from "../gen/kannon/v1/report_pb.js";
import { Counts, decodeCounts, type SparseCounts } from "./counts.js";
import { createLatencyHistogram, encodeHistogram, type Histogram } from "./histogram.js";
import { isFailedStatus } from "./outcome.js";

/** The percentiles a LatencyStats reports, in its field order. */
const PERCENTILES = [50, 90, 95, 99, 99.9] as const;

/** Summarises a latency histogram; `withHistogram` embeds its encoding (for cumulative views). */
export function latencyStats(h: Histogram, withHistogram: boolean): LatencyStats {
  const count = h.totalCount;
  if (count === 0) return create(LatencyStatsSchema, {});
  const [p50, p90, p95, p99, p999] = PERCENTILES.map((p) => BigInt(Math.round(h.getValueAtPercentile(p))));
  return create(LatencyStatsSchema, {
    count: BigInt(count),
    minUs: BigInt(Math.round(h.minNonZeroValue)),
    meanUs: h.mean,
    stdevUs: h.stdDeviation,
    p50Us: p50!,
    p90Us: p90!,
    p95Us: p95!,
    p99Us: p99!,
    p999Us: p999!,
    maxUs: BigInt(Math.round(h.maxValue)),
    histogram: withHistogram ? encodeHistogram(h) : new Uint8Array(0),
  });
}

/** The counters of an interval (or of merged ones) besides its histograms. */
export interface Counters {
  requests: number;
  bytesReceived: number;
  dropped: number;
  late: number;
  readonly statusCounts: Map<number, number>;
  readonly errorCounts: Map<string, number>;
  /** RPCs by code. */
  readonly codeCounts: Map<string, number>;
  /** Responses by protocol. */
  readonly protocolCounts: Map<string, number>;
  /** Stream messages received. */
  messagesReceived: number;
}

/** Adds `from`'s counters into `into`: the one exact merge of counters (sums, never averages). */
export function addCounters(into: Counters, from: Counters): void {
  into.requests += from.requests;
  into.bytesReceived += from.bytesReceived;
  into.dropped += from.dropped;
  into.late += from.late;
  into.messagesReceived += from.messagesReceived;
  addMap(into.statusCounts, from.statusCounts);
  addMap(into.errorCounts, from.errorCounts);
  addMap(into.codeCounts, from.codeCounts);
  addMap(into.protocolCounts, from.protocolCounts);
}

function addMap<K>(into: Map<K, number>, from: Map<K, number>): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

/** Adds a protobuf map of counts into `into`, keys read by `key`. */
function addCounts<K>(into: Map<K, number>, from: { [k: string]: bigint }, key: (k: string) => K): void {
  for (const [k, v] of Object.entries(from)) {
    const kk = key(k);
    into.set(kk, (into.get(kk) ?? 0) + Number(v));
  }
}

/** A metrics message's histograms, decoded to counts by bucket; absent when the message carries none. */
export interface DecodedHistograms {
  latency: SparseCounts | undefined;
  serviceTime: SparseCounts | undefined;
  failedLatency: SparseCounts | undefined;
  handshake: SparseCounts | undefined;
  firstMessage: SparseCounts | undefined;
}

/** The encoded histograms of a metrics message, or of one of its steps (StepMetrics). */
export type EncodedHistograms = Pick<MetricsMessage, "latencyHistogram" | "serviceTimeHistogram" | "failedLatencyHistogram" | "firstMessageHistogram"> &
  Partial<Pick<MetricsMessage, "handshakeHistogram">>;

/**
 * What {@link MetricsAccumulator.addDecoded} sums: a metrics message's counters, or a step's
 * (StepMetrics, which has no dropped, late or interval bounds).
 */
export type CountedInterval = Pick<MetricsMessage, "requests" | "bytesReceived" | "statusCounts" | "errorCounts" | "codeCounts" | "messagesReceived"> &
  Partial<Pick<MetricsMessage, "dropped" | "late" | "intervalStart" | "intervalEnd" | "protocolCounts">>;

/** Decodes a metrics message's (or a step's) histograms; throws on bytes that are not an HdrHistogram encoding. */
export function decodeMetrics(m: EncodedHistograms): DecodedHistograms {
  return {
    latency: decodeIfAny(m.latencyHistogram),
    serviceTime: decodeIfAny(m.serviceTimeHistogram),
    failedLatency: decodeIfAny(m.failedLatencyHistogram),
    handshake: decodeIfAny(m.handshakeHistogram),
    firstMessage: decodeIfAny(m.firstMessageHistogram),
  };
}

function decodeIfAny(encoded: Uint8Array | undefined): SparseCounts | undefined {
  return encoded && encoded.length > 0 ? decodeCounts(encoded) : undefined;
}

/** The part of Stats that judging a test's outcome reads. */
export type FailureCounts = Pick<Stats, "requests" | "errors" | "statusCounts" | "errorCounts" | "codeCounts">;

/** One histogram to summarise counts with (the process is single-threaded; used and reset at once). */
const scratch = createLatencyHistogram(64);

/**
 * Summarises merged counts: the numbers {@link latencyStats} gives for the same histogram (see
 * Counts.summarize), and its encoding when `withHistogram`.
 */
export function countsStats(counts: Counts, withHistogram: boolean): LatencyStats {
  const s = counts.summarize(PERCENTILES);
  if (s.count === 0) return create(LatencyStatsSchema, {});
  const [p50, p90, p95, p99, p999] = s.at.map((v) => BigInt(Math.round(v)));
  return create(LatencyStatsSchema, {
    count: BigInt(s.count),
    minUs: BigInt(Math.round(s.min)),
    meanUs: s.mean,
    stdevUs: s.stdev,
    p50Us: p50!,
    p90Us: p90!,
    p95Us: p95!,
    p99Us: p99!,
    p999Us: p999!,
    maxUs: BigInt(Math.round(s.max)),
    histogram: withHistogram ? encodeHistogram(counts.toHistogram(scratch)) : new Uint8Array(0),
  });
}

/** Seconds between two epoch-ms instants, 0 when either is unknown or they are not in order (no rate). */
export function windowSeconds(startMs: number, endMs: number): number {
  return Number.isFinite(startMs) && Number.isFinite(endMs) && endMs > startMs ? (endMs - startMs) / 1000 : 0;
}

/**
 * Exact merge of interval metrics: counts are summed and histograms added, never averaged.
 * Applying is not idempotent by itself; callers deduplicate on (driver, seq). Failed requests'
 * latency is kept apart (`failedLatency`); an older driver's message, which has none, has its
 * failed requests in its latency histogram and is added as it is.
 */
export class MetricsAccumulator implements Counters {
  requests = 0;
  bytesReceived = 0;
  dropped = 0;
  late = 0;
  readonly statusCounts = new Map<number, number>();
  readonly errorCounts = new Map<string, number>();
  readonly codeCounts = new Map<string, number>();
  readonly protocolCounts = new Map<string, number>();
  messagesReceived = 0;
  readonly latency = new Counts();
  /** Allocated on the first service time seen (avalanche has none). */
  private serviceCounts: Counts | undefined;
  /** Latency of the requests that failed. */
  readonly failedLatency = new Counts();
  /** TLS handshake times and streams' first-message times, allocated on the first seen. */
  private handshakeCounts: Counts | undefined;
  private firstMessageCounts: Counts | undefined;
  /** Earliest interval start and latest interval end seen, in epoch ms. */
  startMs = Number.POSITIVE_INFINITY;
  endMs = Number.NEGATIVE_INFINITY;

  /** Adds one driver interval. Throws (changing nothing) when its histograms do not decode. */
  add(m: MetricsMessage): void {
    this.addDecoded(m, decodeMetrics(m));
  }

  /** Adds one driver interval whose histograms were decoded already (decode once, add many times). */
  addDecoded(m: CountedInterval, h: DecodedHistograms): void {
    this.requests += Number(m.requests);
    this.bytesReceived += Number(m.bytesReceived);
    this.dropped += Number(m.dropped ?? 0n);
    this.late += Number(m.late ?? 0n);
    addCounts(this.statusCounts, m.statusCounts as { [k: string]: bigint }, Number);
    addCounts(this.errorCounts, m.errorCounts, String);
    addCounts(this.codeCounts, m.codeCounts, String);
    addCounts(this.protocolCounts, m.protocolCounts ?? {}, String);
    this.messagesReceived += Number(m.messagesReceived);
    if (h.latency) this.latency.addSparse(h.latency);
    if (h.serviceTime) (this.serviceCounts ??= new Counts()).addSparse(h.serviceTime);
    if (h.failedLatency) this.failedLatency.addSparse(h.failedLatency);
    if (h.handshake) (this.handshakeCounts ??= new Counts()).addSparse(h.handshake);
    if (h.firstMessage) (this.firstMessageCounts ??= new Counts()).addSparse(h.firstMessage);
    if (m.intervalStart) this.startMs = Math.min(this.startMs, msOf(m.intervalStart));
    if (m.intervalEnd) this.endMs = Math.max(this.endMs, msOf(m.intervalEnd));
  }

  /**
   * Adds merged numbers (e.g. a stored interval); exact when they embed their histograms, which
   * is how intervals are stored. Throws when an embedded histogram does not decode.
   */
  addStats(s: Stats): void {
    this.requests += Number(s.requests);
    this.bytesReceived += Number(s.bytesReceived);
    this.dropped += Number(s.dropped);
    this.late += Number(s.late);
    addCounts(this.statusCounts, s.statusCounts as { [k: string]: bigint }, Number);
    addCounts(this.errorCounts, s.errorCounts, String);
    addCounts(this.codeCounts, s.codeCounts, String);
    addCounts(this.protocolCounts, s.protocolCounts, String);
    this.messagesReceived += Number(s.messagesReceived);
    const embedded = (l: LatencyStats | undefined) => decodeIfAny(l?.histogram);
    const latency = embedded(s.latency);
    const serviceTime = embedded(s.serviceTime);
    const failedLatency = embedded(s.failedLatency);
    const handshake = embedded(s.handshake);
    const firstMessage = embedded(s.firstMessage);
    if (latency) this.latency.addSparse(latency);
    if (serviceTime) (this.serviceCounts ??= new Counts()).addSparse(serviceTime);
    if (failedLatency) this.failedLatency.addSparse(failedLatency);
    if (handshake) (this.handshakeCounts ??= new Counts()).addSparse(handshake);
    if (firstMessage) (this.firstMessageCounts ??= new Counts()).addSparse(firstMessage);
    if (s.start) this.startMs = Math.min(this.startMs, msOf(s.start));
    if (s.end) this.endMs = Math.max(this.endMs, msOf(s.end));
  }

  /** Adds another accumulator. */
  addAll(other: MetricsAccumulator): void {
    addCounters(this, other);
    this.latency.addCounts(other.latency);
    if (other.serviceCounts) (this.serviceCounts ??= new Counts()).addCounts(other.serviceCounts);
    this.failedLatency.addCounts(other.failedLatency);
    if (other.handshakeCounts) (this.handshakeCounts ??= new Counts()).addCounts(other.handshakeCounts);
    if (other.firstMessageCounts) (this.firstMessageCounts ??= new Counts()).addCounts(other.firstMessageCounts);
    this.startMs = Math.min(this.startMs, other.startMs);
    this.endMs = Math.max(this.endMs, other.endMs);
  }

  /** Service-time counts, when any interval carried them. */
  get serviceTime(): Counts | undefined {
    return this.serviceCounts;
  }

  /** Requests that failed: a transport error or an HTTP status outside 100..399 (isFailedStatus). */
  get errors(): number {
    let n = 0;
    for (const v of this.errorCounts.values()) n += v;
    for (const [code, v] of this.statusCounts) if (isFailedStatus(code)) n += v;
    return n;
  }

  /** Requests, failures and their kinds: what judging an outcome needs (cheap, no percentiles). */
  failureCounts(): FailureCounts {
    return {
      requests: BigInt(this.requests),
      errors: BigInt(this.errors),
      statusCounts: bigintRecord(this.statusCounts),
      errorCounts: bigintRecord(this.errorCounts),
      codeCounts: bigintRecord(this.codeCounts),
    };
  }

  /**
   * The merged numbers as a Stats message. `startMs`/`endMs` override the window used for req/s
   * (for example the fleet's start_at); `withHistogram` embeds encoded histograms.
   */
  toStats(options: { withHistogram?: boolean; interval?: number; startMs?: number; endMs?: number } = {}): Stats {
    const startMs = options.startMs ?? this.startMs;
    const endMs = options.endMs ?? this.endMs;
    const seconds = windowSeconds(startMs, endMs);
    const withHistogram = options.withHistogram ?? false;
    return create(StatsSchema, {
      ...(Number.isFinite(startMs) ? { start: timestampAt(startMs) } : {}),
      ...(Number.isFinite(endMs) ? { end: timestampAt(endMs) } : {}),
      ...this.failureCounts(),
      requestsPerS: seconds > 0 ? this.requests / seconds : 0,
      bytesReceived: BigInt(this.bytesReceived),
      dropped: BigInt(this.dropped),
      late: BigInt(this.late),
      latency: countsStats(this.latency, withHistogram),
      ...(this.serviceCounts ? { serviceTime: countsStats(this.serviceCounts, withHistogram) } : {}),
      ...(this.failedLatency.total > 0 ? { failedLatency: countsStats(this.failedLatency, withHistogram) } : {}),
      interval: options.interval ?? 0,
      protocolCounts: bigintRecord(this.protocolCounts),
      ...(this.handshakeCounts ? { handshake: countsStats(this.handshakeCounts, withHistogram) } : {}),
      ...(this.firstMessageCounts ? { firstMessage: countsStats(this.firstMessageCounts, withHistogram) } : {}),
      messagesReceived: BigInt(this.messagesReceived),
      messagesPerS: seconds > 0 ? this.messagesReceived / seconds : 0,
    });
  }
}

/** A map of counts as a protobuf map of uint64. */
export function bigintRecord<K extends string | number>(counts: Map<K, number>): { [k: string]: bigint } {
  return Object.fromEntries([...counts].map(([k, v]) => [k, BigInt(v)]));
}

/** Epoch milliseconds (fractional, to the microsecond) of a protobuf Timestamp. */
export function msOf(t: { seconds: bigint; nanos: number }): number {
  return Number(t.seconds) * 1000 + Math.round(t.nanos / 1e3) / 1e3;
}

/** A protobuf Timestamp from fractional epoch milliseconds, kept to the microsecond. */
export function timestampAt(ms: number): Timestamp {
  const us = Math.round(ms * 1000);
  const seconds = Math.floor(us / 1e6);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (us - seconds * 1e6) * 1000 });
}
