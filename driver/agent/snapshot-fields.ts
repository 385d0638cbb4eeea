import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MetricsMessageSchema } from "../../gen/kannon/v1/bus_pb.js";
import { bigintRecord } from "../../metrics/stats.js";
import type { IntervalSnapshot } from "../load/recorder.js";


/** The request counters and histograms of a snapshot, as a metrics message (or one of its steps) holds them. */
function requestFields(s: IntervalSnapshot) {
  return {
    requests: BigInt(s.requests),
    statusCounts: bigintRecord(s.statusCounts),
    errorCounts: bigintRecord(s.errorCounts),
    bytesReceived: BigInt(s.bytesReceived),
    latencyHistogram: s.latencyHistogram,
    serviceTimeHistogram: s.serviceTimeHistogram,
    failedLatencyHistogram: s.failedLatencyHistogram,
    codeCounts: bigintRecord(s.codeCounts),
    firstMessageHistogram: s.firstMessageHistogram,
    messagesReceived: BigInt(s.messagesReceived),
  };
}

/**
 * A driver interval's numbers as MetricsMessage fields (bus.proto): the totals, with protocols and
 * TLS handshakes (totals only), and every step and scenario it carries. The message's identity,
 * window and flags are the caller's.
 */
export function snapshotFields(s: IntervalSnapshot): MessageInitShape<typeof MetricsMessageSchema> {
  return {
    ...requestFields(s),
    dropped: BigInt(s.dropped),
    late: BigInt(s.late),
    protocolCounts: bigintRecord(s.protocolCounts),
    handshakeHistogram: s.handshakeHistogram,
    steps: (s.steps ?? []).map((st) => ({
      stepIndex: st.stepIndex,
      ...requestFields(st.counts),
      checks: st.checks.map((c) => ({ name: c.name, passed: BigInt(c.passed), failed: BigInt(c.failed) })),
      captureMissing: BigInt(st.captureMissing),
      abortedIterations: BigInt(st.abortedIterations),
    })),
    scenarios: (s.scenarios ?? []).map((sc) => ({
      scenarioIndex: sc.scenarioIndex,
      iterations: BigInt(sc.iterations),
      aborted: BigInt(sc.aborted),
      iterationHistogram: sc.iterationHistogram,
    })),
  };
}
