import { clone, create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import type { Bus, Delivered, Subscription } from "../bus/bus.js";
import { TestConfigMessageSchema, TriggerAction, TriggerMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import {
  WatchDriversResponseSchema,
  WatchTestResponseSchema,
  type WatchDriversResponse,
  type WatchTestResponse,
} from "../gen/kannon/v1/orchestrator_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, TestState, type Test, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { DEFAULT_START_DELAY_MS, HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import { TargetAllowlist } from "./allowlist.js";
import * as catalog from "./catalog.js";
import { Channel } from "./channel.js";
import { DomainError } from "./errors.js";
import { Fleet } from "./fleet.js";
import { LiveTest } from "./live-test.js";
import type { Page } from "./paging.js";
import { runDeadlineMs } from "./plan.js";
import { RESHARE_LEAD_MS, reshareDue } from "./reshare.js";
import { downsample } from "./series.js";
import { metricsKey, Store, type StoredMetrics } from "./store.js";
import { describeProblems, validateSpec } from "./validate.js";

/** After a cancel, drivers get this long to deliver their final metrics. */
export const CANCEL_DEADLINE_MS = 5000;
/** How often deadlines and heartbeats are checked. */
const TICK_MS = 250;
/** The bus counts as unreachable when the liveness consumer has not completed a poll for this long. */
export const BUS_STALL_MS = 3000;
/** A pause between two polls longer than this (an idle poll completes every ~100 ms) is a gap in evidence. */
const POLL_GAP_MS = 1500;
/** Metrics applied between two yields to the event loop while a batch is ingested. */
const INGEST_SLICE = 200;
/** The metrics consumer counts as current when it has caught up within this long. */
const INGEST_CURRENT_MS = 1500;
/** Stored intervals replayed between two waits for the merged intervals' writes. */
const REPLAY_SLICE = 2000;
/** Default of {@link OrchestratorOptions.keepTests}. */
export const DEFAULT_KEEP_TESTS = 10_000;
/** Default of {@link OrchestratorOptions.forgetDriversAfterMs}: a day. */
export const DEFAULT_FORGET_DRIVERS_AFTER_MS = 24 * 3600_000;
/** How often drivers gone for long are pruned. */
const PRUNE_EVERY_MS = 60_000;

const TERMINAL = new Set([TestState.COMPLETED, TestState.CANCELLED, TestState.FAILED]);

/** Options of {@link Orchestrator.open}. */
export interface OrchestratorOptions {
  bus: Bus;
  /** LMDB directory; created when missing. */
  dataDir: string;
  heartbeatIntervalMs?: number | undefined;
  log?: ((message: string) => void) | undefined;
  /** Tests kept in the store; beyond it the oldest that are not running are deleted. */
  keepTests?: number | undefined;
  /** Drivers that left or went missing this long ago are forgotten. */
  forgetDriversAfterMs?: number | undefined;
  /** `HOST[:PORT]` entries tests may target; empty or absent: any target. */
  allowTargets?: readonly string[] | undefined;
}

/** Counters for logs, tests and benchmarks. */
export interface OrchestratorStats {
  metricsApplied: number;
  metricsDuplicate: number;
  metricsIgnored: number;
  /** Messages whose histograms did not decode: logged and skipped. */
  metricsInvalid: number;
  /** Metrics batches stored (one LMDB transaction each). */
  batches: number;
  heartbeats: number;
  /** Times the bus became unreachable (liveness judgement paused). */
  busStalls: number;
}

/**
 * The orchestrator's domain: tests and their lifecycle, the fleet, the exact merge of metrics,
 * deadlines, and durable state. Transport-free: the Connect routes call it.
 *
 * Liveness and data are consumed apart: registrations and heartbeats on one subscription (O(1)
 * each), metrics in batches on another (decoded once, applied, and stored in one transaction per
 * batch before the batch is acknowledged), so a metrics backlog never makes a driver look dead.
 */
export class Orchestrator {
  readonly stats: OrchestratorStats = {
    metricsApplied: 0,
    metricsDuplicate: 0,
    metricsIgnored: 0,
    metricsInvalid: 0,
    batches: 0,
    heartbeats: 0,
    busStalls: 0,
  };
  private readonly live = new Map<string, LiveTest>();
  /** Watchers of tests that have not started yet. */
  private readonly early = new Map<string, Set<Channel<WatchTestResponse>>>();
  private readonly notRunningSince = new Map<string, number>();
  private readonly cancelDeadline = new Map<string, number>();
  /** Per running test: how long the bus was unreachable during it (its deadlines move by that). */
  private readonly pausedMs = new Map<string, number>();
  /** Tests whose end is being stored (sealed, report not yet written). */
  private readonly finishing = new Set<string>();
  private liveness: Subscription | undefined;
  private ingestion: Subscription | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stalledSince: number | undefined;
  private closing = false;
  /** The liveness consumer's last poll, as of the previous tick. */
  private lastPoll: number | undefined;
  private lastPruneMs = Date.now();
  private retaining: Promise<unknown> = Promise.resolve();
  private readonly log: (message: string) => void;
  private readonly heartbeatIntervalMs: number;
  private readonly keepTests: number;
  private readonly forgetDriversAfterMs: number;
  private readonly allowlist: TargetAllowlist;

  private constructor(
    private readonly bus: Bus,
    private readonly store: Store,
    readonly fleet: Fleet,
    options: OrchestratorOptions,
  ) {
    this.log = options.log ?? ((m) => console.log(m));
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.keepTests = options.keepTests ?? DEFAULT_KEEP_TESTS;
    this.forgetDriversAfterMs = options.forgetDriversAfterMs ?? DEFAULT_FORGET_DRIVERS_AFTER_MS;
    this.allowlist = new TargetAllowlist(options.allowTargets);
  }

  /**
   * Opens the store, resumes tests that were running (replaying their stored intervals as a
   * stream), and starts consuming the data plane. Refuses (GroupInUseError) when another
   * orchestrator consumes the same topics.
   */
  static async open(options: OrchestratorOptions): Promise<Orchestrator> {
    new TargetAllowlist(options.allowTargets); // a bad entry fails here, before anything is opened
    const store = new Store(options.dataDir);
    const o = new Orchestrator(options.bus, store, new Fleet(store, options.heartbeatIntervalMs), options);
    try {
      for (const { test } of store.testsNewestFirst())
        if (test.state === TestState.STARTING || test.state === TestState.RUNNING) await o.resume(test);
      o.liveness = await options.bus.subscribe(
        { kind: "shared", group: "orchestrator-liveness", exclusive: true },
        {
          register: (m) => o.fleet.onRegister(m),
          heartbeat: (m) => {
            o.stats.heartbeats++;
            o.fleet.onHeartbeat(m);
          },
        },
      );
      o.ingestion = await options.bus.subscribeBatch({ kind: "shared", group: "orchestrator", exclusive: true }, "metrics", (batch) =>
        o.ingest(batch),
      );
    } catch (err) {
      await o.liveness?.close();
      await store.close();
      throw err;
    }
    // Joining the groups may have waited out a killed predecessor's session: every known driver
    // gets a full heartbeat window from now, as after any gap in evidence.
    o.fleet.forgive();
    o.fleet.onRefuse = (driverId, instanceId, reason) => {
      o.log(`orchestrator: ${reason}`);
      void o.bus
        .publish("trigger", "", create(TriggerMessageSchema, { action: TriggerAction.REFUSE, driverIds: [driverId], instanceId, reason }))
        .catch((err) => o.log(`orchestrator: could not tell the refused driver ${driverId}: ${String(err)}`));
    };
    o.ticker = setInterval(() => o.tick(), TICK_MS);
    return o;
  }

  /** Validates and stores a new test in CREATED. */
  createTest(spec: TestSpec | undefined): Test {
    const problems = validateSpec(spec);
    if (problems.length > 0) throw new DomainError("invalid_argument", describeProblems(problems));
    const refused = this.allowlist.refuses(spec!.targetUrl);
    if (refused) throw new DomainError("permission_denied", refused);
    const test = create(TestSchema, {
      id: randomUUID(),
      spec: spec!,
      state: TestState.CREATED,
      createdAt: timestampNow(),
    });
    this.store.putTest(test);
    this.retain();
    return test;
  }

  /** A test by id. */
  getTest(id: string): Test {
    if (!id) throw new DomainError("invalid_argument", "test_id is required");
    const live = this.live.get(id);
    if (live) return live.test;
    const test = this.store.getTest(id);
    if (!test) throw new DomainError("not_found", `test "${id}" does not exist`);
    return test;
  }

  /** A page of tests, newest first, optionally in one state. */
  listTests(query: catalog.TestQuery = { pageSize: 0, pageToken: "", state: TestState.UNSPECIFIED }): Page<Test> {
    return catalog.listTests(this.store, query, (t) => this.live.get(t.id)?.test ?? t);
  }

  /** A page of the fleet, sorted by id. */
  listDrivers(query: { pageSize: number; pageToken: string } = { pageSize: 0, pageToken: "" }): Page<Driver> {
    return catalog.listDrivers(this.fleet, query);
  }

  /** A page of a test's merged intervals at full resolution. */
  listIntervals(id: string, query: { pageSize: number; pageToken: string }): Page<Stats> {
    this.getTest(id);
    return catalog.listIntervals(this.store, id, query);
  }

  /** Deletes a test that is not running, with its report and intervals. */
  async deleteTest(id: string): Promise<void> {
    const test = this.getTest(id);
    if (this.live.has(id) || test.state === TestState.STARTING || test.state === TestState.RUNNING)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; cancel it and let it end before deleting it`);
    this.endEarlyWatchers(test);
    await this.store.deleteTest(test);
  }

  /** Picks drivers, sends them the config and a trigger with a common start instant. */
  async startTest(id: string): Promise<Test> {
    const test = this.getTest(id);
    if (test.state !== TestState.CREATED)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; only a CREATED test can be started`);
    if (this.stalledSince !== undefined)
      throw new DomainError("unavailable", `the data plane has been unreachable for ${Date.now() - this.stalledSince} ms; test "${id}" stays CREATED: start it again once the bus is back`);
    const spec = test.spec!;
    const ready = this.fleet.ready();
    const wanted = spec.driverCount === 0 ? Math.max(1, ready.length) : spec.driverCount;
    if (ready.length < wanted) {
      const names = ready.slice(0, 20).map((d) => d.id).join(", ") + (ready.length > 20 ? `, +${ready.length - 20} more` : "");
      throw new DomainError("failed_precondition", `test "${id}" needs ${wanted} ready driver(s); ${ready.length} ready (${names || "none"})`);
    }
    const drivers = ready.slice(0, wanted).map((d) => d.id);
    const startAtMs = Date.now() + (spec.startDelayMs || DEFAULT_START_DELAY_MS);
    const started = clone(TestSchema, test);
    started.state = TestState.STARTING;
    started.driverIds = drivers;
    started.startAt = timestampAt(startAtMs);
    this.fleet.reserve(drivers, id);
    this.store.putTest(started);
    // Live before anything is sent: a driver's first answer (or a cancel) may come back before
    // the publishes are acknowledged.
    const live = this.newLive(started);
    this.live.set(id, live);
    try {
      await this.bus.publish("test_config", id, create(TestConfigMessageSchema, { testId: id, spec, driverIds: drivers }));
      await this.bus.publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.START, startAt: started.startAt! }));
    } catch (err) {
      this.live.delete(id);
      this.fleet.release(id);
      this.store.putTest(test);
      // Whatever did reach a driver must not run.
      void this.bus.publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.CANCEL })).catch(() => undefined);
      throw new DomainError("unavailable", `could not reach the drivers to start test "${id}": ${String(err)}`);
    }
    for (const ch of this.early.get(id) ?? []) this.attach(live, ch);
    this.early.delete(id);
    return live.test;
  }

  /**
   * Cancels a test: a CREATED test ends at once; a running one is told to stop and ends when its
   * drivers have flushed (or by {@link CANCEL_DEADLINE_MS}). Waits up to that long for the end.
   */
  async cancelTest(id: string): Promise<Test> {
    const test = this.getTest(id);
    if (TERMINAL.has(test.state))
      throw new DomainError("failed_precondition", `test "${id}" already ended (${TestState[test.state]}); nothing to cancel`);
    const live = this.live.get(id);
    if (!live) {
      const cancelled = clone(TestSchema, test);
      cancelled.state = TestState.CANCELLED;
      cancelled.endedAt = timestampNow();
      cancelled.message = "cancelled before it started";
      this.store.putTest(cancelled);
      this.endEarlyWatchers(cancelled);
      return cancelled;
    }
    if (!live.cancelRequested) {
      live.cancelRequested = true;
      // Stored, so that an orchestrator restarted before the drivers flush still ends it CANCELLED.
      live.test = clone(TestSchema, live.test);
      live.test.cancelRequested = true;
      this.store.putTest(live.test);
      this.cancelDeadline.set(id, Date.now() + CANCEL_DEADLINE_MS);
      await this.bus
        .publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.CANCEL }))
        .catch((err) => this.log(`orchestrator: could not send cancel for test ${id}: ${String(err)}; drivers will be declared lost`));
    }
    const deadline = Date.now() + CANCEL_DEADLINE_MS + TICK_MS * 2;
    while (this.live.has(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.getTest(id);
  }

  /** The final report of an ended test. */
  getReport(id: string): Report {
    const test = this.getTest(id);
    const report = this.store.getReport(id);
    if (!report)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; its report is ready when it ends`);
    return report;
  }

  /** The stored report's exact bytes (for byte-for-byte checks). */
  getReportBytes(id: string): Uint8Array | undefined {
    return this.store.getReportBytes(id);
  }

  /** Streams a test: current state first, then every interval, then the final report. */
  watchTest(id: string): AsyncIterable<WatchTestResponse> {
    const test = this.getTest(id);
    const ch = new Channel<WatchTestResponse>({ sizeOf: (r) => toBinary(WatchTestResponseSchema, r as WatchTestResponse).byteLength });
    const live = this.live.get(id);
    if (live) this.attach(live, ch);
    else if (TERMINAL.has(test.state)) {
      const report = this.store.getReport(id);
      ch.push(create(WatchTestResponseSchema, { test, ...(report ? { report, cumulative: report.total! } : {}) }));
      ch.end();
    } else {
      ch.push(create(WatchTestResponseSchema, { test }));
      const set = this.early.get(id) ?? new Set();
      set.add(ch);
      this.early.set(id, set);
      ch.onClose = () => set.delete(ch);
    }
    return ch;
  }

  /** Streams the fleet: the whole fleet once, then one changed driver per message. */
  watchDrivers(): AsyncIterable<WatchDriversResponse> {
    const ch = new Channel<WatchDriversResponse>({ sizeOf: (r) => toBinary(WatchDriversResponseSchema, r as WatchDriversResponse).byteLength });
    ch.push(create(WatchDriversResponseSchema, { drivers: this.fleet.list() }));
    ch.onClose = this.fleet.subscribe((changed) => ch.push(create(WatchDriversResponseSchema, { changed })));
    return ch;
  }

  /** Stops consuming, ends every stream, closes the store. Running tests resume on the next open. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.ticker);
    await Promise.allSettled([this.liveness?.close(), this.ingestion?.close()]);
    for (const set of this.early.values()) for (const ch of set) ch.end();
    await this.retaining;
    await this.store.close();
  }

  /** Bytes the store takes on disk. */
  storeSizeBytes(): number {
    return this.store.sizeBytes();
  }

  private newLive(test: Test): LiveTest {
    return new LiveTest(test, (stats) => {
      this.store.putInterval(test.id, stats).catch((err) => this.log(`orchestrator: could not store interval ${stats.interval} of test ${test.id}: ${String(err)}`));
    });
  }

  /**
   * Picks a running test up again after a restart: replays its stored intervals in order, as a
   * stream, letting the merged intervals it re-emits be written as it goes.
   */
  private async resume(test: Test): Promise<void> {
    const live = this.newLive(test);
    let n = 0;
    for (const m of this.store.metricsOf(test.id)) {
      if (++n % REPLAY_SLICE === 0) await this.store.committed();
      try {
        live.apply(m);
      } catch (err) {
        this.log(`orchestrator: skipped stored metrics seq ${m.seq} of ${m.driverId} (test ${test.id}): ${String(err)}`);
      }
    }
    this.live.set(test.id, live);
    this.fleet.reserve(test.driverIds, test.id);
    if (test.cancelRequested) {
      live.cancelRequested = true;
      this.cancelDeadline.set(test.id, Date.now() + CANCEL_DEADLINE_MS);
    }
  }

  private attach(live: LiveTest, ch: Channel<WatchTestResponse>): void {
    ch.onClose = live.watch((r) => {
      ch.push(r);
      if (r.report) ch.end();
    });
  }

  private endEarlyWatchers(test: Test): void {
    for (const ch of this.early.get(test.id) ?? []) {
      ch.push(create(WatchTestResponseSchema, { test }));
      ch.end();
    }
    this.early.delete(test.id);
  }

  /**
   * One consumed batch of metrics: each message checked, deduplicated on (test, driver, seq)
   * against the store and the batch, decoded once and applied; then the batch is stored in one
   * transaction, and only then acknowledged (the promise resolves). A process that dies before
   * gets the batch again and skips what it had stored.
   */
  private async ingest(batch: Delivered<MetricsMessage>[]): Promise<void> {
    const toStore: (StoredMetrics & { live: LiveTest })[] = [];
    const seen = new Set<string>();
    const touched = new Set<LiveTest>();
    const finals = new Set<LiveTest>();
    let sinceYield = 0;
    for (const { message: m, value } of batch) {
      // A large batch is applied in slices, so heartbeats and RPCs are served in between.
      if (++sinceYield > INGEST_SLICE) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
      const live = this.live.get(m.testId);
      if (!live) {
        this.stats.metricsIgnored++;
        continue;
      }
      const key = metricsKey(m);
      if (seen.has(key) || this.store.hasMetrics(key)) {
        this.stats.metricsDuplicate++;
        continue;
      }
      const why = live.rejects(m);
      if (why) {
        this.stats.metricsIgnored++;
        if (!why.includes("already delivered") && !live.sealed) this.log(`orchestrator: skipped metrics for test ${m.testId}: ${why}`);
        continue;
      }
      try {
        live.apply(m);
      } catch (err) {
        this.stats.metricsInvalid++;
        this.log(`orchestrator: skipped metrics seq ${m.seq} of driver ${m.driverId} (test ${m.testId}): ${String(err)}`);
        continue;
      }
      seen.add(key);
      toStore.push({ key, value, live });
      touched.add(live);
      if (m.final) finals.add(live);
      this.stats.metricsApplied++;
    }
    // A test that ended while this batch was applied has its report: its raw intervals are not kept.
    const keep = toStore.filter((r) => !r.live.sealed);
    if (keep.length > 0) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.store.putMetricsBatch(keep);
          break;
        } catch (err) {
          // Not acknowledged until stored: a restart would otherwise lose what was counted.
          if (this.closing) throw err;
          this.log(`orchestrator: could not store ${keep.length} metrics (attempt ${attempt}): ${String(err)}; trying again`);
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
        }
      }
      this.stats.batches++;
    }
    for (const live of touched) {
      if (live.allDone) void this.finish(live);
      else if (finals.has(live)) this.reshare(live);
    }
  }

  /** Ends a run: seals it, waits for its intervals to be stored, stores the report, drops raw data. */
  private async finish(live: LiveTest): Promise<void> {
    const id = live.test.id;
    if (this.finishing.has(id)) return;
    this.finishing.add(id);
    live.seal();
    const drivers = [...live.drivers.values()];
    try {
      await this.store.committed();
      // Decided after the wait: a cancel that came in meanwhile still makes it CANCELLED.
      const failed = drivers.every((d) => d.message !== "" && d.totals.requests === 0);
      const ending = live.cancelRequested
        ? { state: TestState.CANCELLED as const, message: "cancelled by request" }
        : failed
          ? { state: TestState.FAILED as const, message: "no driver ran the test" }
          : { state: TestState.COMPLETED as const, message: "" };
      const { test, report } = live.finish(ending, downsample(this.store.intervalsOf(id), live.intervalCount));
      this.store.putReport(report);
      this.store.putTest(test);
      this.log(`orchestrator: test ${id} ${TestState[test.state]}${test.message ? ` (${test.message})` : ""}`);
    } catch (err) {
      // Still live and sealed: the next tick tries again.
      this.log(`orchestrator: could not store the end of test ${id}: ${String(err)}; trying again`);
      this.finishing.delete(id);
      return;
    }
    this.finishing.delete(id);
    this.live.delete(id);
    this.cancelDeadline.delete(id);
    this.pausedMs.delete(id);
    for (const d of drivers) this.notRunningSince.delete(`${id}/${d.id}`);
    this.fleet.release(id);
    // Drivers that delivered their final are free for the next test now, not at their next beat.
    this.fleet.finished(id, drivers.filter((d) => d.finished).map((d) => d.id));
    // The report holds the merged intervals; the raw driver intervals are no longer needed.
    this.store.deleteMetrics(id).catch((err) => this.log(`orchestrator: could not compact test ${id}: ${String(err)}`));
    this.retain();
    // A driver given up on (missing, past a deadline) may come back: tell it the test is over.
    if (drivers.some((d) => !d.finished))
      void this.bus
        .publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.CANCEL }))
        .catch((err) => this.log(`orchestrator: could not tell the drivers test ${id} is over: ${String(err)}`));
  }

  /** Deletes the oldest tests beyond keepTests, one pass at a time. */
  private retain(): void {
    if (this.store.testCount <= this.keepTests) return;
    this.retaining = this.retaining
      .then(() => catalog.retain(this.store, this.keepTests, (id) => this.live.has(id), (t) => this.endEarlyWatchers(t)))
      .catch((err) => this.log(`orchestrator: retention failed: ${String(err)}`));
  }

  /**
   * Liveness is judged only on evidence: a driver is missing when the liveness consumer has kept
   * polling the broker for a whole miss window without hearing from it. While the consumer cannot
   * poll (the broker is down, or this process stalled) silence proves nothing; when polls resume
   * after a gap, every driver gets a fresh heartbeat window and running tests' deadlines move by
   * the gap. Returns the instant up to which silence counts, or undefined while the bus is down.
   */
  private evidenceUntil(now: number): number | undefined {
    const polled = Math.min(now, this.liveness?.lastPollAt?.() ?? now);
    if (this.lastPoll !== undefined && polled - this.lastPoll > POLL_GAP_MS) {
      const gap = polled - this.lastPoll;
      for (const id of this.live.keys()) this.pausedMs.set(id, (this.pausedMs.get(id) ?? 0) + gap);
      this.fleet.forgive(now);
      this.notRunningSince.clear();
      if (this.stalledSince !== undefined) this.log(`orchestrator: the bus is back after ${gap} ms; drivers get a fresh heartbeat window`);
      this.stalledSince = undefined;
    }
    this.lastPoll = polled;
    if (now - polled < BUS_STALL_MS) return polled;
    if (this.stalledSince === undefined) {
      this.stalledSince = now;
      this.stats.busStalls++;
      this.log(`orchestrator: the bus is unreachable (no poll for ${now - polled} ms); no driver is declared lost until it is back`);
    }
    return undefined;
  }

  /** Deadlines: start instant, missing or idle drivers, run and cancel deadlines. */
  private tick(now = Date.now()): void {
    const evidence = this.evidenceUntil(now);
    const healthy = evidence !== undefined;
    if (healthy) this.fleet.sweep(evidence);
    if (now - this.lastPruneMs > PRUNE_EVERY_MS) {
      this.lastPruneMs = now;
      const n = this.fleet.prune(this.forgetDriversAfterMs, now);
      if (n > 0) this.log(`orchestrator: forgot ${n} driver(s) gone for more than ${Math.round(this.forgetDriversAfterMs / 60_000)} min`);
    }
    const missingAfter = this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT;
    const caught = this.ingestion?.caughtUpAt?.() ?? now;
    // Losses are judged only once what drivers sent by now has been ingested: a backlog may hold finals.
    const ingestCurrent = now - caught <= INGEST_CURRENT_MS;
    for (const live of [...this.live.values()]) {
      if (live.sealed) {
        if (!this.finishing.has(live.test.id)) void this.finish(live);
        continue;
      }
      const test = live.test;
      const startAtMs = test.startAt ? msOf(test.startAt) : now;
      if (test.state === TestState.STARTING && now >= startAtMs) live.setState(TestState.RUNNING);
      if (!healthy || !ingestCurrent) continue;
      for (const d of live.drivers.values()) {
        if (d.finished || d.lost) continue;
        const driver = this.fleet.get(d.id);
        const key = `${test.id}/${d.id}`;
        if (!driver || driver.state === DriverState.MISSING) live.lose(d.id, `driver ${d.id} went missing (no heartbeat for ${missingAfter} ms)`);
        else if (driver.state === DriverState.LEFT || (now > startAtMs + missingAfter && driver.testId !== test.id)) {
          // A leaving driver sends its final metrics first, but Kafka does not order topics: give
          // the final a heartbeat window to arrive before calling the driver lost.
          const since = this.notRunningSince.get(key) ?? now;
          this.notRunningSince.set(key, since);
          if (now - since > missingAfter)
            live.lose(d.id, driver.state === DriverState.LEFT ? `driver ${d.id} left the fleet` : `driver ${d.id} is not running the test`);
        } else this.notRunningSince.delete(key);
      }
      const paused = this.pausedMs.get(test.id) ?? 0;
      const base = runDeadlineMs(test.spec!, startAtMs);
      const deadline = base === undefined ? undefined : base + paused;
      const cancelBy = this.cancelDeadline.get(test.id);
      // Past a deadline, and everything sent before it ingested: a final that is not here was not sent.
      const past = (at: number | undefined) => at !== undefined && now > at && caught > at;
      if (past(deadline) || past(cancelBy === undefined ? undefined : cancelBy + paused))
        for (const d of live.drivers.values()) live.lose(d.id, `driver ${d.id} sent no final metrics by the deadline`);
      if (live.allDone) void this.finish(live);
      else this.reshare(live, now);
    }
  }

  /** Re-splits an arrival-rate schedule over the drivers that remain, when one dropped out. */
  private reshare(live: LiveTest, now = Date.now()): void {
    const ids = reshareDue(live, now);
    if (!ids) return;
    const previous = live.sharedIds;
    live.sharedIds = ids;
    const id = live.test.id;
    this.log(`orchestrator: test ${id}: re-splitting the arrival rate over ${ids.length} driver(s): ${ids.join(", ")}`);
    void this.bus
      .publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.RESHARE, startAt: timestampAt(now + RESHARE_LEAD_MS), driverIds: ids }))
      .catch((err) => {
        this.log(`orchestrator: could not re-split test ${id}: ${String(err)}; trying again`);
        if (live.sharedIds === ids) live.sharedIds = previous;
      });
  }
}
