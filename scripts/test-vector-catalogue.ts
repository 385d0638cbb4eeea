/**
 * The catalogue of shared data-plane test vectors (written by scripts/test-vectors.ts): every
 * message and case, with fixed timestamps and histograms made from seeded integer samples.
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  HeartbeatMessageSchema,
  MetricsMessageSchema,
  RegisterMessageSchema,
  TestConfigMessageSchema,
  TriggerAction,
  TriggerMessageSchema,
} from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { HIGHEST_TRACKABLE_US } from "../metrics/histogram.js";

/** How a histogram's values are made: `n` samples of a shape from a seed, or explicit (value, count) pairs. */
export type HistogramSpec = { seed: number; n: number; shape: "latency" | "service" | "wide" } | { pairs: ReadonlyArray<readonly [number, number]> };

// ---------------------------------------------------------------------------------------------
// Deterministic samples

/** mulberry32: a 32-bit seeded generator in integer arithmetic only (same numbers on every engine). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Exact powers of ten (no Math.pow, whose last bit may differ between engines). */
const POWERS_OF_TEN = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * Integer latency samples in µs of a shape: a body plus a tail, from integer draws only.
 * `latency`: ~0.8–3 ms with 5 % at 2–60× and 0.2 % at 100–400×; `service`: a little below that;
 * `wide`: every decade from 1 µs up to the histogram's highest trackable value.
 */
export function samples(spec: { seed: number; n: number; shape: "latency" | "service" | "wide" }): number[] {
  const next = generator(spec.seed);
  const out: number[] = [];
  for (let i = 0; i < spec.n; i++) {
    const r = next();
    let v: number;
    if (spec.shape === "wide") {
      // A decade (10^0 … 10^9) and a mantissa 1.000–9.999, clamped to the trackable range.
      const decade = r % 10;
      const mantissa = 1000 + (next() % 9000);
      v = Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.floor((mantissa * POWERS_OF_TEN[decade]!) / 1000)));
    } else {
      const body = spec.shape === "latency" ? 800 + (r % 2200) : 600 + (r % 1700);
      const tail = next() % 1000;
      v = tail < 2 ? body * (100 + (next() % 300)) : tail < 52 ? body * (2 + (next() % 58)) : body;
    }
    out.push(v);
  }
  return out;
}

/** The (value, count) pairs a spec records. */
export function pairsOf(spec: HistogramSpec): Array<readonly [number, number]> {
  return "pairs" in spec ? [...spec.pairs] : samples(spec).map((v) => [v, 1] as const);
}

// ---------------------------------------------------------------------------------------------
// Fixed values

const U64_MAX = 2n ** 64n - 1n;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
/** 2^53 + 1: the first integer a JSON number (an IEEE double) cannot hold. */
const BEYOND_DOUBLE = 2n ** 53n + 1n;

/** 2026-03-14T15:09:26Z plus an offset in ms; `extraNanos` adds sub-millisecond digits. */
export function at(offsetMs: number, extraNanos = 0): Timestamp {
  const base = 1_773_500_966n;
  const totalNanos = BigInt(offsetMs) * 1_000_000n + BigInt(extraNanos);
  return create(TimestampSchema, { seconds: base + totalNanos / 1_000_000_000n, nanos: Number(totalNanos % 1_000_000_000n) });
}

/** The UTF-8 bytes of a string. */
export const utf8 = (s: string) => Buffer.from(s, "utf8");

/**
 * An object with the same entries in ascending UTF-8 byte order of their keys: the order
 * Python's and Go's deterministic encoders write map entries in. (A JavaScript sort compares
 * UTF-16 code units, which puts an emoji before U+E000–U+FFFF; and an object lists integer-like
 * keys first whatever their order, so string maps here never use keys like "10".)
 */
export function utf8Ordered<V>(entries: Record<string, V>): Record<string, V> {
  const keys = Object.keys(entries).sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
  if (keys.some((k) => /^(0|[1-9]\d*)$/.test(k))) throw new Error("integer-like string map keys cannot be kept in byte order by a JS object");
  return Object.fromEntries(keys.map((k) => [k, entries[k]!]));
}

// ---------------------------------------------------------------------------------------------
// The vectors

export interface VectorDef<D extends DescMessage = DescMessage> {
  name: string;
  description: string;
  schema: D;
  /** Builds the message; `h` encodes a histogram spec and remembers it for the manifest. */
  make(h: (field: string, spec: HistogramSpec) => Uint8Array): MessageShape<D>;
}

/** Erases a vector's message type so vectors of several types share one list. */
export function vector<D extends DescMessage>(def: VectorDef<D>): VectorDef {
  return def as unknown as VectorDef;
}

const spec = {
  name: "checkout under load",
  targetUrl: "http://127.0.0.1:8080/checkout?cart=42&lang=ja",
  method: "POST",
  headers: utf8Ordered({ "content-type": "application/json", accept: "application/json", "x-run": "vectors" }),
  body: utf8('{"items":[1,2,3],"note":"naïve café ☕"}'),
  driverCount: 3,
  reportIntervalMs: 1000,
  requestTimeoutMs: 5000,
  maxDurationMs: 120_000,
  startDelayMs: 1500,
};

const LATENCY = { seed: 0x6b616e6e, n: 5006, shape: "latency" } as const;

/** Every vector, in manifest order. */
export const VECTORS: VectorDef[] = [
  vector({
    name: "register",
    description: "a driver joins the fleet",
    schema: RegisterMessageSchema,
    make: () =>
      create(RegisterMessageSchema, {
        driverId: "driver-1",
        host: "loadgen-01.example.internal",
        address: "loadgen-01",
        version: "0.1.0",
        sentAt: at(0),
        instanceId: "5b0c2f3e-9d4a-4e61-8f7a-2c1d0e9b8a76",
      }),
  }),
  vector({
    name: "register_leaving",
    description: "a driver leaves the fleet for good (graceful shutdown)",
    schema: RegisterMessageSchema,
    make: () =>
      create(RegisterMessageSchema, {
        driverId: "driver-1",
        host: "loadgen-01.example.internal",
        address: "loadgen-01",
        version: "0.1.0",
        sentAt: at(3_600_000, 250_000),
        leaving: true,
        instanceId: "5b0c2f3e-9d4a-4e61-8f7a-2c1d0e9b8a76",
      }),
  }),
  vector({
    name: "heartbeat_ready",
    description: "an idle driver's heartbeat",
    schema: HeartbeatMessageSchema,
    make: () =>
      create(HeartbeatMessageSchema, {
        driverId: "driver-1",
        sentAt: at(1000),
        state: DriverState.READY,
        instanceId: "5b0c2f3e-9d4a-4e61-8f7a-2c1d0e9b8a76",
      }),
  }),
  vector({
    name: "heartbeat_busy",
    description: "a heartbeat while running a test",
    schema: HeartbeatMessageSchema,
    make: () =>
      create(HeartbeatMessageSchema, {
        driverId: "driver-2",
        sentAt: at(2000, 123_456_789),
        state: DriverState.BUSY,
        testId: "t-20260314-0001",
        instanceId: "0f9e8d7c-6b5a-4938-a271-605f4e3d2c1b",
      }),
  }),
  vector({
    name: "test_config_avalanche_duration",
    description: "avalanche limited by duration; every TestSpec field set (a headers map, a UTF-8 JSON body)",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0001",
        spec: create(TestSpecSchema, { ...spec, workload: { case: "avalanche", value: { concurrency: 64, limit: { case: "durationMs", value: 30_000 } } } }),
        driverIds: ["driver-1", "driver-2", "driver-3"],
      }),
  }),
  vector({
    name: "test_config_avalanche_requests",
    description: "avalanche limited by a request count beyond 2^53 (JSON carries it as a string); a binary body",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0002",
        spec: create(TestSpecSchema, {
          targetUrl: "https://target.example:8443/",
          body: new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x0a, 0x7f]),
          workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: BEYOND_DOUBLE } } },
        }),
        driverIds: ["driver-1"],
      }),
  }),
  vector({
    name: "test_config_tsunami",
    description: "tsunami every 5 ms for 60 s with max_in_flight",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0003",
        spec: create(TestSpecSchema, {
          targetUrl: "http://127.0.0.1:8080/",
          reportIntervalMs: 500,
          workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 60_000 }, maxInFlight: 200 } },
        }),
        driverIds: ["driver-1", "driver-2"],
      }),
  }),
  vector({
    name: "test_config_tsunami_requests",
    description: "tsunami limited by a request count, no in-flight cap",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0004",
        spec: create(TestSpecSchema, {
          targetUrl: "http://127.0.0.1:8080/",
          workload: { case: "tsunami", value: { delayMs: 1, limit: { case: "requestsPerDriver", value: 10_000n } } },
        }),
        driverIds: ["driver-3", "driver-1"],
      }),
  }),
  vector({
    name: "test_config_arrival_rate",
    description: "arrival rate: a constant first phase then several ramp stages (fractional and large rates)",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0005",
        spec: create(TestSpecSchema, {
          targetUrl: "http://127.0.0.1:8080/api",
          method: "PUT",
          workload: {
            case: "arrivalRate",
            value: {
              ratePerS: 250.5,
              durationMs: 10_000,
              stages: [
                { targetRatePerS: 1000, durationMs: 30_000 },
                { targetRatePerS: 0.125, durationMs: 5000 },
                { targetRatePerS: 1e6, durationMs: 1 },
                { targetRatePerS: 0.1, durationMs: 4_294_967_295 },
              ],
              maxInFlight: 5000,
            },
          },
        }),
        driverIds: ["driver-1", "driver-2", "driver-3"],
      }),
  }),
  vector({
    name: "test_config_arrival_rate_ramp_only",
    description: "arrival rate from 0 req/s with stages only (zero rate and duration are default values, absent from the wire)",
    schema: TestConfigMessageSchema,
    make: () =>
      create(TestConfigMessageSchema, {
        testId: "t-20260314-0006",
        spec: create(TestSpecSchema, {
          targetUrl: "http://127.0.0.1:8080/",
          workload: { case: "arrivalRate", value: { stages: [{ targetRatePerS: 50, durationMs: 20_000 }, { targetRatePerS: 0, durationMs: 20_000 }] } },
        }),
        driverIds: ["driver-2"],
      }),
  }),
  vector({
    name: "trigger_start",
    description: "start the fleet at a common instant",
    schema: TriggerMessageSchema,
    make: () => create(TriggerMessageSchema, { testId: "t-20260314-0001", action: TriggerAction.START, startAt: at(5000) }),
  }),
  vector({
    name: "trigger_cancel",
    description: "cancel a running test",
    schema: TriggerMessageSchema,
    make: () => create(TriggerMessageSchema, { testId: "t-20260314-0001", action: TriggerAction.CANCEL }),
  }),
  vector({
    name: "trigger_reshare",
    description: "re-split an arrival-rate test over the remaining drivers from start_at on",
    schema: TriggerMessageSchema,
    make: () =>
      create(TriggerMessageSchema, {
        testId: "t-20260314-0005",
        action: TriggerAction.RESHARE,
        startAt: at(17_000, 500_000),
        driverIds: ["driver-1", "driver-3"],
      }),
  }),
  vector({
    name: "trigger_refuse",
    description: "refuse a second process with a driver id in use (empty test id)",
    schema: TriggerMessageSchema,
    make: () =>
      create(TriggerMessageSchema, {
        action: TriggerAction.REFUSE,
        driverIds: ["driver-1"],
        instanceId: "a1b2c3d4-0000-4000-8000-000000000001",
        reason: "driver id driver-1 is used by another live process (instance 5b0c2f3e-9d4a-4e61-8f7a-2c1d0e9b8a76)",
      }),
  }),
  vector({
    name: "metrics_interval",
    description: "an avalanche interval: latency histogram, no service time, status and error counts",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-1",
        seq: 7n,
        intervalStart: at(12_000),
        intervalEnd: at(13_000),
        requests: 5006n,
        statusCounts: { 200: 4990n, 503: 10n },
        errorCounts: utf8Ordered({ timeout: 6n }),
        bytesReceived: 1_281_536n,
        latencyHistogram: h("latency_histogram", LATENCY),
        startSkewUs: 1234n,
      }),
  }),
  vector({
    name: "metrics_tsunami_interval",
    description: "a tsunami interval: latency (from the scheduled start) and service-time histograms, late and dropped",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0003",
        driverId: "driver-2",
        seq: 3n,
        intervalStart: at(8000),
        intervalEnd: at(8500),
        requests: 1000n,
        statusCounts: { 200: 1000n },
        bytesReceived: 64_000n,
        latencyHistogram: h("latency_histogram", { seed: 11, n: 1000, shape: "latency" }),
        serviceTimeHistogram: h("service_time_histogram", { seed: 12, n: 1000, shape: "service" }),
        dropped: 3n,
        late: 17n,
        startSkewUs: 88n,
      }),
  }),
  vector({
    name: "metrics_empty_histogram",
    description: "an interval with no completed request: empty histogram bytes (absent from the wire)",
    schema: MetricsMessageSchema,
    make: () =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-3",
        seq: 0n,
        intervalStart: at(5000),
        intervalEnd: at(6000),
      }),
  }),
  vector({
    name: "metrics_encoded_empty_histogram",
    description: "a histogram with no values, encoded (not empty bytes): decoders must read it as count 0",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-3",
        seq: 1n,
        intervalStart: at(6000),
        intervalEnd: at(7000),
        latencyHistogram: h("latency_histogram", { pairs: [] }),
      }),
  }),
  vector({
    name: "metrics_large_counts",
    description: "uint64 and int64 at their edges (JSON strings), a histogram whose total and one bucket exceed 2^32",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0007",
        driverId: "driver-1",
        seq: U64_MAX,
        intervalStart: at(0),
        intervalEnd: at(86_400_000),
        requests: U64_MAX - 1n,
        statusCounts: { 200: U64_MAX, 500: BEYOND_DOUBLE },
        errorCounts: utf8Ordered({ reset: 2n ** 63n, timeout: 2n ** 32n }),
        bytesReceived: U64_MAX,
        latencyHistogram: h("latency_histogram", {
          pairs: [
            [1, 3],
            [950, 2 ** 40 + 7],
            [1500, 0xffff_ffff],
            [2047, 2 ** 31 + 5],
            [HIGHEST_TRACKABLE_US, 1],
          ],
        }),
        dropped: 2n ** 53n,
        late: 2n ** 32n + 1n,
        startSkewUs: I64_MAX,
      }),
  }),
  vector({
    name: "metrics_int64_min_skew",
    description: "start_skew_us at the int64 minimum",
    schema: MetricsMessageSchema,
    make: () =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0007",
        driverId: "driver-2",
        seq: 1n,
        intervalStart: at(1000),
        intervalEnd: at(2000),
        startSkewUs: I64_MIN,
      }),
  }),
  vector({
    name: "metrics_negative_skew",
    description: "a driver that started 2.75 ms early (negative start_skew_us, 10-byte varint)",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-2",
        seq: 0n,
        intervalStart: at(5000),
        intervalEnd: at(6000),
        requests: 250n,
        statusCounts: { 200: 250n },
        bytesReceived: 64_000n,
        latencyHistogram: h("latency_histogram", { seed: 99, n: 250, shape: "latency" }),
        startSkewUs: -2750n,
      }),
  }),
  vector({
    name: "metrics_unicode_ids",
    description: "unicode test and driver ids (CJK, emoji) and error kinds whose UTF-8 order differs from UTF-16 order",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "負荷試験-🚀-2026",
        driverId: "驱动器-😀-01",
        seq: 2n,
        intervalStart: at(7000, 1_000),
        intervalEnd: at(8000, 1_000),
        requests: 120n,
        statusCounts: { 200: 100n },
        // U+FF61 (3 UTF-8 bytes) sorts before 🔥 U+1F525 (4 bytes) by bytes, after it by UTF-16 units.
        errorCounts: utf8Ordered({ "🔥 overheated": 1n, "｡halfwidth": 2n, タイムアウト: 7n, "connexion refusée": 5n, Zeitüberschreitung: 5n }),
        bytesReceived: 9_600n,
        latencyHistogram: h("latency_histogram", { seed: 2026, n: 100, shape: "latency" }),
      }),
  }),
  vector({
    name: "metrics_status_and_errors",
    description: "several status codes (1xx to 5xx) and error kinds",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-1",
        seq: 42n,
        intervalStart: at(47_000),
        intervalEnd: at(48_000),
        requests: 2003n,
        statusCounts: { 101: 1n, 200: 1500n, 201: 100n, 204: 50n, 301: 20n, 404: 30n, 429: 200n, 500: 40n, 503: 42n },
        errorCounts: utf8Ordered({ aborted: 3n, connect_refused: 7n, dns: 1n, reset: 4n, timeout: 5n }),
        bytesReceived: 987_654n,
        latencyHistogram: h("latency_histogram", { seed: 4242, n: 1983, shape: "latency" }),
      }),
  }),
  vector({
    name: "metrics_wide_range",
    description: "latencies in every decade from 1 µs to the highest trackable value (one hour)",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-3",
        seq: 9n,
        intervalStart: at(14_000),
        intervalEnd: at(15_000),
        requests: 3000n,
        statusCounts: { 200: 3000n },
        latencyHistogram: h("latency_histogram", { seed: 7, n: 3000, shape: "wide" }),
        serviceTimeHistogram: h("service_time_histogram", { seed: 8, n: 3000, shape: "wide" }),
      }),
  }),
  vector({
    name: "metrics_rpc_stream",
    description: "an interval of RPCs over HTTP/2 and TLS: calls by code (failed codes also as rpc_CODE error kinds), protocols, handshakes, a server stream's first message and messages, per step too",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0023",
        driverId: "driver-1",
        seq: 3n,
        intervalStart: at(3_000),
        intervalEnd: at(4_000),
        requests: 1000n,
        errorCounts: utf8Ordered({ rpc_deadline_exceeded: 2n, rpc_unavailable: 7n, tls_verify: 1n }),
        bytesReceived: 64_000n,
        latencyHistogram: h("latency_histogram", { seed: 23, n: 990, shape: "latency" }),
        failedLatencyHistogram: h("failed_latency_histogram", { seed: 24, n: 10, shape: "latency" }),
        codeCounts: utf8Ordered({ deadline_exceeded: 2n, ok: 990n, unavailable: 7n }),
        protocolCounts: utf8Ordered({ h2: 950n, "http/1.1": 49n }),
        handshakeHistogram: h("handshake_histogram", { seed: 25, n: 12, shape: "service" }),
        firstMessageHistogram: h("first_message_histogram", { seed: 26, n: 480, shape: "service" }),
        messagesReceived: 4800n,
        steps: [
          { stepIndex: 0, requests: 500n, bytesReceived: 16_000n, codeCounts: { ok: 500n } },
          {
            stepIndex: 1,
            requests: 500n,
            errorCounts: utf8Ordered({ rpc_deadline_exceeded: 2n, rpc_unavailable: 7n, tls_verify: 1n }),
            bytesReceived: 48_000n,
            codeCounts: utf8Ordered({ deadline_exceeded: 2n, ok: 490n, unavailable: 7n }),
            messagesReceived: 4800n,
          },
        ],
      }),
  }),
  vector({
    name: "metrics_final_error",
    description: "a driver's final message when it could not run the test",
    schema: MetricsMessageSchema,
    make: () =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0002",
        driverId: "driver-1",
        seq: 0n,
        intervalStart: at(5000),
        intervalEnd: at(5000),
        final: true,
        startSkewUs: -15n,
        error: "cannot reach target: getaddrinfo ENOTFOUND target.example — réessayer plus tard",
      }),
  }),
  vector({
    name: "metrics_final",
    description: "a driver's last interval of a completed test",
    schema: MetricsMessageSchema,
    make: (h) =>
      create(MetricsMessageSchema, {
        testId: "t-20260314-0001",
        driverId: "driver-1",
        seq: 30n,
        intervalStart: at(35_000),
        intervalEnd: at(35_412, 345_678),
        requests: 2055n,
        statusCounts: { 200: 2055n },
        bytesReceived: 526_080n,
        latencyHistogram: h("latency_histogram", { seed: 30, n: 2055, shape: "latency" }),
        final: true,
        startSkewUs: 1234n,
      }),
  }),
];
