import type { Delivered } from "../bus/bus.js";
import type { MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { swallowed } from "../metrics/swallowed.js";
import { metricsProblem } from "./bus-limits.js";
import type { LiveTest } from "./live-test.js";
import { metricsKey, type Store, type StoredMetrics } from "./store.js";

/** Metrics applied between two yields to the event loop while a batch is ingested. */
const INGEST_SLICE = 200;
/** Stored intervals replayed between two waits for the merged intervals' writes. */
const REPLAY_SLICE = 2000;

/** What ingesting counts (part of the orchestrator's stats). */
export interface IngestStats {
  metricsApplied: number;
  metricsDuplicate: number;
  metricsIgnored: number;
  /** Messages out of bounds (a huge or empty id, see bus-limits.ts) or whose histograms did not decode: logged and skipped. */
  metricsInvalid: number;
  /** Metrics batches stored (one LMDB transaction each). */
  batches: number;
}

/** What a batch touched: the tests it changed, and those that got a driver's final message. */
export interface Ingested {
  touched: Set<LiveTest>;
  finals: Set<LiveTest>;
}

/**
 * One consumed batch of metrics: each message checked (every field within bounds before any key
 * is built from it, then its test, driver and seq), deduplicated on (test, driver, seq) against
 * the store and the batch, decoded once and applied; then the batch is stored in one transaction
 * (tried again until it is, unless `closing`), and only then does the promise resolve, which
 * acknowledges the batch. A bad record is counted and skipped: it never costs the rest of the
 * batch. A process that dies before gets the batch again and skips what it had stored. A large
 * batch is applied in slices, so heartbeats and RPCs are served in between.
 */
export async function ingestBatch(
  batch: readonly Delivered<MetricsMessage>[],
  deps: { live: ReadonlyMap<string, LiveTest>; store: Store; stats: IngestStats; log: (m: string) => void; closing: () => boolean },
): Promise<Ingested> {
  const { store, stats, log } = deps;
  const toStore: (StoredMetrics & { live: LiveTest })[] = [];
  const seen = new Set<string>();
  const touched = new Set<LiveTest>();
  const finals = new Set<LiveTest>();
  let sinceYield = 0;
  for (const { message: m, value } of batch) {
    if (++sinceYield > INGEST_SLICE) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
    }
    const bad = metricsProblem(m);
    if (bad) {
      stats.metricsInvalid++;
      log(`orchestrator: skipped ${bad}`);
      continue;
    }
    const live = deps.live.get(m.testId);
    if (!live) {
      stats.metricsIgnored++;
      continue;
    }
    try {
      const key = metricsKey(m);
      if (seen.has(key) || store.hasMetrics(key)) {
        stats.metricsDuplicate++;
        continue;
      }
      const why = live.rejects(m);
      if (why) {
        stats.metricsIgnored++;
        if (!why.includes("already delivered") && !live.sealed) log(`orchestrator: skipped metrics for test ${m.testId}: ${why}`);
        continue;
      }
      live.apply(m); // throws, changing nothing, when a histogram does not decode
      seen.add(key);
      toStore.push({ key, value, live });
    } catch (err) {
      stats.metricsInvalid++;
      log(`orchestrator: skipped metrics seq ${m.seq} of driver ${m.driverId} (test ${m.testId}): ${String(err)}`);
      continue;
    }
    touched.add(live);
    if (m.final) finals.add(live);
    stats.metricsApplied++;
  }
  // A test that ended while this batch was applied has its report: its raw intervals are not kept.
  const keep = toStore.filter((r) => !r.live.sealed);
  if (keep.length > 0) {
    for (let attempt = 1; ; attempt++) {
      try {
        await store.putMetricsBatch(keep);
        break;
      } catch (err) {
        // Not acknowledged until stored: a restart would otherwise lose what was counted.
        if (deps.closing()) throw err;
        swallowed("orchestrator.store_metrics", `orchestrator: could not store ${keep.length} metrics (attempt ${attempt}): ${String(err)}; trying again`, log);
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
    stats.batches++;
  }
  return { touched, finals };
}

/**
 * Replays a running test's stored driver intervals into `live` after a restart, in order, as a
 * stream: every {@link REPLAY_SLICE} messages it waits for the merged intervals it re-emitted to
 * be written. A message that does not apply is logged, counted and skipped. Drivers lost before
 * the restart are lost again at the same point (before the first interval they had not reached),
 * so no interval waits, pending, for them until the first judging tick.
 */
export async function replayStored(live: LiveTest, store: Store, log: (m: string) => void): Promise<void> {
  const losses = [...store.lossesOf(live.test.id)];
  let next = 0;
  const loseUpTo = (seq: number) => {
    for (; next < losses.length && losses[next]!.at <= seq; next++) live.lose(losses[next]!.driverId, losses[next]!.message);
  };
  let n = 0;
  for (const m of store.metricsOf(live.test.id)) {
    if (++n % REPLAY_SLICE === 0) await store.committed();
    loseUpTo(Number(m.seq));
    try {
      live.apply(m);
    } catch (err) {
      swallowed("orchestrator.replay", `orchestrator: skipped stored metrics seq ${m.seq} of ${m.driverId} (test ${live.test.id}): ${String(err)}`, log);
    }
  }
  loseUpTo(Infinity);
}
