/**
 * The fleet bench's view from a client: the WatchDrivers and WatchTest streams, and the lag of each
 * streamed interval behind the simulator's publishes.
 */
import type { Client } from "@connectrpc/connect";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import type { OrchestratorService, WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import { percentiles } from "./fleet-procs.js";
import type { SimBatch } from "./fleet-sim-payload.js";
import type { LagStats, ScenarioResult } from "./fleet-scenario.js";

type OrchestratorClient = Client<typeof OrchestratorService>;
const NO_LAG: LagStats = { p50: NaN, p99: NaN, max: NaN };

/** Consumes WatchDrivers: every driver seen MISSING, from a full `drivers` list or a `changed` one. */
export function watchDrivers(client: OrchestratorClient, signal: AbortSignal) {
  /** Driver id → when it was first seen MISSING. */
  const missing = new Map<string, number>();
  const see = (id: string) => {
    if (!missing.has(id)) missing.set(id, Date.now());
  };
  const seen = { messages: 0, lastAtMs: Date.now() };
  let first!: () => void;
  const firstSeen = new Promise<void>((r) => (first = r));
  const done = (async () => {
    for await (const m of client.watchDrivers({}, { signal })) {
      first();
      seen.messages++;
      seen.lastAtMs = Date.now();
      if (m.changed?.state === DriverState.MISSING) see(m.changed.id);
      for (const d of m.drivers) if (d.state === DriverState.MISSING) see(d.id);
    }
  })().catch((err: unknown) => (signal.aborted ? undefined : `WatchDrivers: ${String(err)}`));
  return { missing, seen, firstSeen, done };
}

/** Consumes WatchTest: the arrival time of each interval, and the last message. */
export function watchTest(client: OrchestratorClient, testId: string, signal: AbortSignal) {
  const arrivals = new Map<number, number>();
  let last: WatchTestResponse | undefined;
  let first!: () => void;
  const firstSeen = new Promise<void>((r) => (first = r));
  const done = (async () => {
    for await (const m of client.watchTest({ testId }, { signal })) {
      const at = Date.now();
      first();
      if (m.interval && !arrivals.has(m.interval.interval)) arrivals.set(m.interval.interval, at);
      last = m;
    }
  })().then(
    () => "",
    (err: unknown) => (signal.aborted ? "" : `WatchTest: ${String(err)}`),
  );
  return { arrivals, firstSeen, done, last: () => last };
}

/** The lag numbers of a scenario. */
export type LagResult = Pick<ScenarioResult, "lagFromAck" | "lagFromIssue" | "pairsMatched" | "pairsSent" | "pairsStreamedWithout" | "intervalsStreamed">;

/** Lag of each (driver, seq) pair: arrival of the streamed interval seq minus its send times. */
export function measureLag(batches: readonly SimBatch[], arrivals: ReadonlyMap<number, number>): LagResult {
  const r: LagResult = { lagFromAck: NO_LAG, lagFromIssue: NO_LAG, pairsMatched: 0, pairsSent: 0, pairsStreamedWithout: 0, intervalsStreamed: arrivals.size };
  const fromAck: number[] = [];
  const fromIssue: number[] = [];
  for (const b of batches) {
    if (b.ackedMs === null) continue;
    r.pairsSent += b.count;
    const at = arrivals.get(b.seq);
    if (at === undefined) continue;
    if (at < b.issuedMs) {
      r.pairsStreamedWithout += b.count;
      continue;
    }
    r.pairsMatched += b.count;
    for (let i = 0; i < b.count; i++) {
      fromAck.push(at - b.ackedMs);
      fromIssue.push(at - b.issuedMs);
    }
  }
  const [a50, a99, aMax] = percentiles(fromAck, [50, 99, 100]);
  const [i50, i99, iMax] = percentiles(fromIssue, [50, 99, 100]);
  r.lagFromAck = { p50: a50!, p99: a99!, max: aMax! };
  r.lagFromIssue = { p50: i50!, p99: i99!, max: iMax! };
  return r;
}
