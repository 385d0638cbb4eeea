/**
 * Driver messages without driver processes, for orchestrator tests: registrations, heartbeats
 * and metrics intervals with real encoded histograms, sent straight on a transport.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type { RawRecord, Transport } from "../bus/bus.js";
import { HeartbeatMessageSchema, MetricsMessageSchema, RegisterMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { createLatencyHistogram, encodeHistogram, recordUs } from "../metrics/histogram.js";
import { timestampAt } from "../metrics/stats.js";

/** Requests in every interval a fake driver reports. */
export const REQUESTS_PER_INTERVAL = 100;

/** One encoded histogram of REQUESTS_PER_INTERVAL latencies (1–5 ms), shared by every interval. */
export const INTERVAL_HISTOGRAM = (() => {
  const h = createLatencyHistogram();
  for (let i = 0; i < REQUESTS_PER_INTERVAL; i++) recordUs(h, 1000 + ((i * 397) % 4000));
  return encodeHistogram(h);
})();

/** A register record. */
export function register(driverId: string): RawRecord {
  return { topic: "register", key: driverId, value: toBinary(RegisterMessageSchema, create(RegisterMessageSchema, { driverId, host: "fake", address: "127.0.0.1" })) };
}

/** A heartbeat record (BUSY with a test id, else READY). */
export function heartbeat(driverId: string, testId = ""): RawRecord {
  return {
    topic: "heartbeat",
    key: driverId,
    value: toBinary(HeartbeatMessageSchema, create(HeartbeatMessageSchema, { driverId, testId, state: testId ? DriverState.BUSY : DriverState.READY, sentAt: timestampAt(Date.now()) })),
  };
}

/** A metrics record: interval `seq` of a driver (REQUESTS_PER_INTERVAL requests), or its empty final message. */
export function metrics(testId: string, driverId: string, seq: number, startAtMs: number, intervalMs: number, final = false): RawRecord {
  const m = create(MetricsMessageSchema, {
    testId,
    driverId,
    seq: BigInt(seq),
    intervalStart: timestampAt(startAtMs + seq * intervalMs),
    intervalEnd: timestampAt(startAtMs + (seq + 1) * intervalMs),
    ...(final
      ? { final: true }
      : { requests: BigInt(REQUESTS_PER_INTERVAL), statusCounts: { 200: BigInt(REQUESTS_PER_INTERVAL) }, latencyHistogram: INTERVAL_HISTOGRAM }),
  });
  return { topic: "metrics", key: driverId, value: toBinary(MetricsMessageSchema, m) };
}

/** Registers drivers and waits for nothing (the orchestrator's liveness consumer takes them). */
export async function registerAll(transport: Transport, ids: readonly string[]): Promise<void> {
  await transport.send(ids.map(register));
}
