import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { Bus, Delivered, Subscription } from "../bus/bus.js";
import { TriggerAction, TriggerMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestSchema, TestState, type Test, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { swallowed } from "../metrics/swallowed.js";
import { HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import { TargetAllowlist } from "./allowlist.js";
import { retain, TestCatalog } from "./catalog.js";
import { DomainError } from "./errors.js";
import { Fleet } from "./fleet.js";
import { ingestBatch, replayStored, type IngestStats } from "./ingest.js";
import { endingOf, RunDeadlines } from "./judge.js";
import type { LiveTest } from "./live-test.js";
import { FleetLiveness, type LivenessStats } from "./liveness.js";
import { RESHARE_LEAD_MS, reshareDue } from "./reshare.js";
import { downsample } from "./series.js";
import { Store } from "./store.js";
import { REFLECTION_TIMEOUT_MS } from "./schema-fetch.js";
import { noteLostRows } from "./data-parts.js";
import { DataDistribution } from "./data-start.js";
import { fetchedSpec, storeNewTest } from "./create-test.js";
import { newLiveTest, startCreated, type StartContext } from "./start-test.js";
import { isEnded } from "../metrics/outcome.js";

/** After a cancel, drivers get this long to deliver their final metrics. */
export const CANCEL_DEADLINE_MS = 5000;
/** How often deadlines and heartbeats are checked. */
const TICK_MS = 250;
/** The metrics consumer counts as current when it has caught up within this long. */
const INGEST_CURRENT_MS = 1500;
/** Default of {@link OrchestratorOptions.keepTests}. */
export const DEFAULT_KEEP_TESTS = 10_000;

/** Options of {@link Orchestrator.open}. */
export interface OrchestratorOptions {
  bus: Bus;
  /** LMDB directory; created when missing. */
  dataDir: string;
  heartbeatIntervalMs?: number | undefined;
  log?: ((message: string) => void) | undefined;
  /** Tests kept in the store; beyond it the oldest that are not running are deleted. */
  keepTests?: number | undefined;
  /** Drivers that left or went missing this long ago are forgotten (default: a day). */
  forgetDriversAfterMs?: number | undefined;
  /** `HOST[:PORT]` entries tests may target; empty or absent: any target. */
  allowTargets?: readonly string[] | undefined;
  /** A target URL this fleet can load, offered to clients as a default (ListDriversResponse.default_target_url). */
  defaultTargetUrl?: string | undefined;
  /** How long drivers get to confirm their parts of a test's data files (default: scaled with the size, dataReadyDeadlineMs). */
  dataReadyMs?: number | undefined;
  /** How long CreateTest waits for a target's gRPC reflection (default REFLECTION_TIMEOUT_MS). */
  reflectionTimeoutMs?: number | undefined;
}

/** Counters for logs, tests and benchmarks. */
export interface OrchestratorStats extends IngestStats, LivenessStats {}

/**
 * The orchestrator's domain: the lifecycle of tests (create, start, cancel, end, delete), the
 * fleet's liveness, the exact merge of metrics, deadlines, and durable state; the read side is
 * {@link TestCatalog}. Transport-free: the Connect routes call it and build the API's messages.
 *
 * Liveness and data are consumed apart: registrations and heartbeats by {@link FleetLiveness},
 * metrics in batches on a subscription of their own (decoded once, applied, and stored in one
 * transaction per batch before the batch is acknowledged).
 */
export class Orchestrator extends TestCatalog {
  readonly stats: OrchestratorStats = { metricsApplied: 0, metricsDuplicate: 0, metricsIgnored: 0, metricsInvalid: 0, batches: 0, heartbeats: 0, busStalls: 0, clockProbesFailed: 0 };
  private readonly deadlines = new RunDeadlines();
  /** Tests whose end is being stored (sealed, report not yet written). */
  private readonly finishing = new Set<string>();
  private readonly liveness: FleetLiveness;
  private readonly data: DataDistribution;
  private readonly dataReadyMs: number | undefined;
  private readonly reflectionTimeoutMs: number;
  private ingestion: Subscription | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private closing = false;
  private markClosed: () => void = () => {};
  private readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));
  private retaining: Promise<unknown> = Promise.resolve();
  private readonly log: (message: string) => void;
  private readonly heartbeatIntervalMs: number;
  private readonly keepTests: number;
  private readonly allowlist: TargetAllowlist;
  /** The target URL clients are offered as a default; empty without one. */
  readonly defaultTargetUrl: string;

  private constructor(
    private readonly bus: Bus,
    store: Store,
    fleet: Fleet,
    options: OrchestratorOptions,
  ) {
    super(store, fleet);
    this.log = options.log ?? ((m) => console.log(m));
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.keepTests = options.keepTests ?? DEFAULT_KEEP_TESTS;
    this.allowlist = new TargetAllowlist(options.allowTargets);
    this.defaultTargetUrl = options.defaultTargetUrl ?? "";
    this.liveness = new FleetLiveness(fleet, this.stats, this.log, options.forgetDriversAfterMs);
    this.data = new DataDistribution(bus, store, this.log);
    this.dataReadyMs = options.dataReadyMs;
    this.reflectionTimeoutMs = options.reflectionTimeoutMs ?? REFLECTION_TIMEOUT_MS;
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
      await o.liveness.start(options.bus);
      await o.data.start();
      o.ingestion = await options.bus.subscribeBatch({ kind: "shared", group: "orchestrator", exclusive: true }, "metrics", (batch) =>
        o.ingest(batch),
      );
    } catch (err) {
      await Promise.allSettled([o.liveness.close(), o.data.close()]);
      await store.close();
      throw err;
    }
    // Joining the groups may have waited out a killed predecessor's session: every known driver
    // gets a full heartbeat window from now, as after any gap in evidence.
    o.fleet.forgive();
    o.fleet.onRefuse = (driverId, instanceId, reason) => {
      o.log(`orchestrator: ${reason}`);
      void o.tell("", { action: TriggerAction.REFUSE, driverIds: [driverId], instanceId, reason }, "refuse", `could not tell the refused driver ${driverId}`);
    };
    o.ticker = setInterval(() => o.tick(), TICK_MS);
    return o;
  }

  /**
   * CreateTest: the RPC schema fetched from the target's reflection when the spec asks for it
   * (only for a target the allowlist lets tests load), then {@link createTest}.
   */
  async createTestFetching(spec: TestSpec | undefined): Promise<Test> {
    return this.createTest(await fetchedSpec(spec, this.allowlist, this.reflectionTimeoutMs));
  }

  /** Validates and stores a new test in CREATED (see {@link storeNewTest}). */
  createTest(spec: TestSpec | undefined): Test {
    const test = storeNewTest(spec, this.allowlist, this.store);
    this.retain();
    return test;
  }

  /** Deletes a test that is not running, with its report and intervals. */
  async deleteTest(id: string): Promise<void> {
    const test = this.getTest(id);
    if (this.live.has(id) || test.state === TestState.STARTING || test.state === TestState.RUNNING)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; cancel it and let it end before deleting it`);
    this.watchers.ended(test);
    await this.store.deleteTest(test);
  }

  /**
   * Picks drivers, sends them the config (and each its part of the data files, waiting until every
   * driver holds it) and a trigger with a common start instant (see {@link startCreated}).
   */
  async startTest(id: string): Promise<Test> {
    const { bus, store, fleet, data, live, dataReadyMs } = this;
    const ctx: StartContext = { bus, store, fleet, data, live, dataReadyMs, stalledSince: this.liveness.stalledSince, newLive: (t) => this.newLive(t), tell: (...a) => this.tell(...a) };
    const started = await startCreated(this.getTest(id), ctx);
    this.watchers.started(started);
    return started.test;
  }

  /**
   * Cancels a test: a CREATED test ends at once; a running one is told to stop and ends when its
   * drivers have flushed (or by {@link CANCEL_DEADLINE_MS}). Waits for that end (a little past the
   * deadline at the most, or until the orchestrator closes) and returns the test as it is then.
   */
  async cancelTest(id: string): Promise<Test> {
    const test = this.getTest(id);
    if (isEnded(test.state))
      throw new DomainError("failed_precondition", `test "${id}" already ended (${TestState[test.state]}); nothing to cancel`);
    const live = this.live.get(id);
    if (!live) {
      const cancelled = clone(TestSchema, test);
      cancelled.state = TestState.CANCELLED;
      cancelled.endedAt = timestampNow();
      cancelled.message = "cancelled before it started";
      this.store.putTest(cancelled);
      this.dropData(cancelled);
      this.watchers.ended(cancelled);
      return cancelled;
    }
    if (!live.cancelRequested) {
      live.cancelRequested = true;
      // Stored, so that an orchestrator restarted before the drivers flush still ends it CANCELLED.
      live.test = clone(TestSchema, live.test);
      live.test.cancelRequested = true;
      this.store.putTest(live.test);
      this.deadlines.cancelled(id, Date.now() + CANCEL_DEADLINE_MS);
      await this.tell(id, { testId: id, action: TriggerAction.CANCEL, attempt: live.test.startAttempt }, "cancel", `could not send cancel for test ${id}; its drivers will be declared lost`);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CANCEL_DEADLINE_MS + TICK_MS * 2)));
    await Promise.race([live.whenEnded, this.closed, deadline]);
    clearTimeout(timer);
    return this.getTest(id);
  }

  /** Stops consuming, ends every stream, closes the store. Running tests resume on the next open. */
  async close(): Promise<void> {
    this.closing = true;
    this.markClosed();
    clearInterval(this.ticker);
    await Promise.allSettled([this.liveness.close(), this.ingestion?.close(), this.data.close()]);
    this.watchers.closeAll();
    await this.retaining;
    await this.store.close();
  }

  /** A starting or resumed test's live state (see {@link newLiveTest}). */
  private newLive(test: Test): LiveTest {
    return newLiveTest(test, { store: this.store, log: this.log, failure: (where, failed) => this.failure(where, failed), cancel: (id) => this.cancelTest(id) });
  }

  /** Picks a running test up again after a restart, from its stored driver intervals and losses. */
  private async resume(test: Test): Promise<void> {
    const live = this.newLive(test);
    await replayStored(live, this.store, this.log);
    this.live.set(test.id, live);
    this.fleet.reserve(test.driverIds, test.id);
    if (test.cancelRequested) {
      live.cancelRequested = true;
      if (test.spec?.abortOnFail && test.message) live.abortMessage = test.message;
      this.deadlines.cancelled(test.id, Date.now() + CANCEL_DEADLINE_MS);
    }
  }

  /** Ingests one consumed batch of metrics (see ingestBatch), then ends or re-splits what it touched. */
  private async ingest(batch: Delivered<MetricsMessage>[]): Promise<void> {
    const { touched, finals } = await ingestBatch(batch, { live: this.live, store: this.store, stats: this.stats, log: this.log, closing: () => this.closing });
    for (const live of touched) {
      if (live.allDone) void this.finish(live);
      else if (finals.has(live)) this.reshare(live);
    }
  }

  /** Ends a run: seals it, waits for its intervals to be stored, stores the report, drops raw data. */
  private async finish(live: LiveTest): Promise<void> {
    const id = live.test.id;
    // Once only: an ingest whose batch write a tick's end overtook calls this again with the run
    // it held, which rewrote the report and test with a later ended_at than its watchers were sent.
    if (this.finishing.has(id) || this.live.get(id) !== live) return;
    this.finishing.add(id);
    live.seal();
    const drivers = [...live.drivers.values()];
    noteLostRows(live);
    try {
      await this.store.committed();
      // Decided after the wait: a cancel that came in meanwhile still makes it CANCELLED.
      const { test, report } = live.finish(endingOf(live), downsample(this.store.intervalsOf(id), live.intervalCount, live.layout), Date.now(), (d) => this.fleet.get(d)?.clock);
      this.store.putReport(report);
      this.store.putTest(test);
      this.log(`orchestrator: test ${id} ${TestState[test.state]}${test.message ? ` (${test.message})` : ""}`);
    } catch (err) {
      // Still live and sealed: the next tick tries again.
      this.failure("store_end", `could not store the end of test ${id} (the next tick tries again)`)(err);
      this.finishing.delete(id);
      return;
    }
    this.finishing.delete(id);
    this.live.delete(id);
    this.deadlines.forget(id, live.drivers.keys());
    this.fleet.release(id);
    // Drivers that delivered their final are free for the next test now, not at their next beat.
    this.fleet.finished(id, drivers.filter((d) => d.finished).map((d) => d.id));
    live.ended();
    // The report holds the merged intervals; the raw driver intervals and the data files are no longer needed.
    this.store.deleteMetrics(id).catch(this.failure("compact", `could not compact test ${id}`));
    this.dropData(live.test);
    this.retain();
    // A driver given up on (missing, past a deadline) may come back: tell it the test is over.
    if (drivers.some((d) => !d.finished))
      void this.tell(id, { testId: id, action: TriggerAction.CANCEL, attempt: live.test.startAttempt }, "tell_over", `could not tell the drivers test ${id} is over`);
  }

  /** Drops the content of an ended test's data files (it can no longer start). */
  private dropData(test: Test): void {
    if (test.spec?.dataFiles.length || test.spec?.http?.tls?.certPem) this.store.deleteData(test.id).catch(this.failure("drop_data", `could not drop the data files of test ${test.id}`));
  }

  /** Deletes the oldest tests beyond keepTests, one pass at a time. */
  private retain(): void {
    if (this.store.testCount <= this.keepTests) return;
    this.retaining = this.retaining
      .then(() => retain(this.store, this.keepTests, (id) => this.live.has(id), (t) => this.watchers.ended(t)))
      .catch(this.failure("retain", "retention failed"));
  }

  /** Deadlines: start instant, liveness on evidence, missing or idle drivers, run and cancel deadlines. */
  private tick(now = Date.now()): void {
    const { until, gap } = this.liveness.check(now);
    if (gap !== undefined) this.deadlines.paused(this.live.keys(), gap);
    const caughtUpAt = this.ingestion?.caughtUpAt?.() ?? now;
    // Losses are judged only on evidence, and once what drivers sent by now has been ingested.
    const judging = until !== undefined && now - caughtUpAt <= INGEST_CURRENT_MS;
    for (const live of [...this.live.values()]) {
      const id = live.test.id;
      if (live.sealed) {
        if (!this.finishing.has(id)) void this.finish(live);
        continue;
      }
      if (live.test.state === TestState.STARTING && now >= (live.test.startAt ? msOf(live.test.startAt) : now)) live.setState(TestState.RUNNING);
      if (!judging) continue;
      this.deadlines.judge(live, { fleet: this.fleet, now, caughtUpAt, missingAfterMs: this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT });
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
    const trigger = { testId: id, action: TriggerAction.RESHARE, startAt: timestampAt(now + RESHARE_LEAD_MS), driverIds: ids, attempt: live.test.startAttempt };
    void this.tell(id, trigger, "reshare", `could not re-split test ${id}; trying again`).then((sent) => {
      if (!sent && live.sharedIds === ids) live.sharedIds = previous;
    });
  }

  /** Publishes a trigger on which nothing waits (see {@link failure}); resolves to whether it was sent. */
  private tell(key: string, trigger: MessageInitShape<typeof TriggerMessageSchema>, where: string, failed: string): Promise<boolean> {
    return this.bus.publish("trigger", key, create(TriggerMessageSchema, trigger)).then(
      () => true,
      (err: unknown) => (this.failure(where, failed)(err), false),
    );
  }

  /** Handles the failure of work nothing waits for: logs it (`failed` says what could not be done) and counts it as `orchestrator.<where>`. */
  private failure(where: string, failed: string): (err: unknown) => void {
    return (err) => swallowed(`orchestrator.${where}`, `orchestrator: ${failed}: ${String(err)}`, this.log);
  }
}
