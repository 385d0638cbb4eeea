import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import type { Bus, Subscription } from "../bus/bus.js";
import { TestConfigMessageSchema, TriggerAction, TriggerMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { WatchDriversResponseSchema, WatchTestResponseSchema, type WatchDriversResponse, type WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Report } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, TestState, type Test, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { Channel } from "./channel.js";
import { DomainError } from "./errors.js";
import { Fleet } from "./fleet.js";
import { LiveTest } from "./live-test.js";
import { DEFAULT_START_DELAY_MS, HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import { runDeadlineMs } from "./plan.js";
import { RESHARE_LEAD_MS, reshareDue } from "./reshare.js";
import { Store } from "./store.js";
import { describeProblems, validateSpec } from "./validate.js";

/** After a cancel, drivers get this long to deliver their final metrics. */
export const CANCEL_DEADLINE_MS = 5000;
/** How often deadlines and heartbeats are checked. */
const TICK_MS = 250;

const TERMINAL = new Set([TestState.COMPLETED, TestState.CANCELLED, TestState.FAILED]);

/** Options of {@link Orchestrator.open}. */
export interface OrchestratorOptions {
  bus: Bus;
  /** LMDB directory; created when missing. */
  dataDir: string;
  heartbeatIntervalMs?: number | undefined;
  log?: ((message: string) => void) | undefined;
}

/** Counters for logs and tests. */
export interface OrchestratorStats {
  metricsApplied: number;
  metricsDuplicate: number;
  metricsIgnored: number;
  /** Messages whose histograms did not decode: logged and skipped. */
  metricsInvalid: number;
}

/**
 * The orchestrator's domain: tests and their lifecycle, the fleet, the exact merge of metrics,
 * deadlines, and durable state. Transport-free: the Connect routes call it.
 */
export class Orchestrator {
  readonly stats: OrchestratorStats = { metricsApplied: 0, metricsDuplicate: 0, metricsIgnored: 0, metricsInvalid: 0 };
  private readonly live = new Map<string, LiveTest>();
  /** Watchers of tests that have not started yet. */
  private readonly early = new Map<string, Set<Channel<WatchTestResponse>>>();
  private readonly notRunningSince = new Map<string, number>();
  private readonly cancelDeadline = new Map<string, number>();
  private subscription: Subscription | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly log: (message: string) => void;
  private readonly heartbeatIntervalMs: number;

  private constructor(
    private readonly bus: Bus,
    private readonly store: Store,
    readonly fleet: Fleet,
    options: OrchestratorOptions,
  ) {
    this.log = options.log ?? ((m) => console.log(m));
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
  }

  /** Opens the store, resumes tests that were running, and starts consuming the data plane. */
  static async open(options: OrchestratorOptions): Promise<Orchestrator> {
    const store = new Store(options.dataDir);
    const o = new Orchestrator(options.bus, store, new Fleet(store, options.heartbeatIntervalMs), options);
    for (const test of store.listTests()) {
      if (test.state !== TestState.STARTING && test.state !== TestState.RUNNING) continue;
      const live = new LiveTest(test);
      for (const m of store.listMetrics(test.id)) {
        try {
          live.apply(m);
        } catch (err) {
          (options.log ?? console.log)(`orchestrator: skipped stored metrics seq ${m.seq} of ${m.driverId} (test ${test.id}): ${String(err)}`);
        }
      }
      o.live.set(test.id, live);
      o.fleet.reserve(test.driverIds, test.id);
      if (test.cancelRequested) {
        live.cancelRequested = true;
        o.cancelDeadline.set(test.id, Date.now() + CANCEL_DEADLINE_MS);
      }
    }
    o.subscription = await options.bus.subscribe(
      { kind: "shared", group: "orchestrator" },
      {
        register: (m) => o.fleet.onRegister(m),
        heartbeat: (m) => o.fleet.onHeartbeat(m),
        metrics: (m) => o.onMetrics(m),
      },
    );
    o.ticker = setInterval(() => o.tick(), TICK_MS);
    return o;
  }

  /** Validates and stores a new test in CREATED. */
  createTest(spec: TestSpec | undefined): Test {
    const problems = validateSpec(spec);
    if (problems.length > 0) throw new DomainError("invalid_argument", describeProblems(problems));
    const test = create(TestSchema, {
      id: randomUUID(),
      spec: spec!,
      state: TestState.CREATED,
      createdAt: timestampNow(),
    });
    this.store.putTest(test);
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

  /** Every test, newest first. */
  listTests(): Test[] {
    return this.store
      .listTests()
      .map((t) => this.live.get(t.id)?.test ?? t)
      .sort((a, b) => (b.createdAt && a.createdAt ? msOf(b.createdAt) - msOf(a.createdAt) : 0));
  }

  /** The fleet. */
  listDrivers(): Driver[] {
    return this.fleet.list();
  }

  /** Picks drivers, sends them the config and a trigger with a common start instant. */
  async startTest(id: string): Promise<Test> {
    const test = this.getTest(id);
    if (test.state !== TestState.CREATED)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; only a CREATED test can be started`);
    const spec = test.spec!;
    const ready = this.fleet.ready();
    const wanted = spec.driverCount === 0 ? Math.max(1, ready.length) : spec.driverCount;
    if (ready.length < wanted) {
      const names = ready.map((d) => d.id).join(", ") || "none";
      throw new DomainError("failed_precondition", `test "${id}" needs ${wanted} ready driver(s); ${ready.length} ready (${names})`);
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
    const live = new LiveTest(started);
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
      for (const ch of this.early.get(id) ?? []) {
        ch.push(create(WatchTestResponseSchema, { test: cancelled }));
        ch.end();
      }
      this.early.delete(id);
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
    const ch = new Channel<WatchTestResponse>();
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

  /** Streams the fleet: a snapshot, then every change. */
  watchDrivers(): AsyncIterable<WatchDriversResponse> {
    const ch = new Channel<WatchDriversResponse>();
    ch.push(create(WatchDriversResponseSchema, { drivers: this.fleet.list() }));
    ch.onClose = this.fleet.subscribe((changed, drivers) => ch.push(create(WatchDriversResponseSchema, { drivers, changed })));
    return ch;
  }

  /** Stops consuming, ends every stream, closes the store. Running tests resume on the next open. */
  async close(): Promise<void> {
    clearInterval(this.ticker);
    await this.subscription?.close();
    for (const set of this.early.values()) for (const ch of set) ch.end();
    await this.store.close();
  }

  private attach(live: LiveTest, ch: Channel<WatchTestResponse>): void {
    ch.onClose = live.watch((r) => {
      ch.push(r);
      if (r.report) ch.end();
    });
  }

  private onMetrics(m: MetricsMessage): void {
    const live = this.live.get(m.testId);
    if (!live) {
      this.stats.metricsIgnored++;
      return;
    }
    if (this.store.hasMetrics(m)) {
      this.stats.metricsDuplicate++;
      return;
    }
    const why = live.rejects(m);
    if (why) {
      this.stats.metricsIgnored++;
      if (!why.includes("already delivered")) this.log(`orchestrator: skipped metrics for test ${m.testId}: ${why}`);
      return;
    }
    try {
      live.apply(m);
    } catch (err) {
      this.stats.metricsInvalid++;
      this.log(`orchestrator: skipped metrics seq ${m.seq} of driver ${m.driverId} (test ${m.testId}): ${String(err)}`);
      return;
    }
    this.store.putMetrics(m);
    this.stats.metricsApplied++;
    if (live.allDone) this.finish(live);
    else if (m.final) this.reshare(live);
  }

  private finish(live: LiveTest): void {
    const id = live.test.id;
    const drivers = [...live.drivers.values()];
    const failed = drivers.every((d) => d.message !== "" && d.totals.requests === 0);
    const { test, report } = live.finish(
      live.cancelRequested
        ? { state: TestState.CANCELLED, message: "cancelled by request" }
        : failed
          ? { state: TestState.FAILED, message: "no driver ran the test" }
          : { state: TestState.COMPLETED, message: "" },
    );
    this.store.putReport(report);
    this.store.putTest(test);
    this.live.delete(id);
    this.cancelDeadline.delete(id);
    for (const d of drivers) this.notRunningSince.delete(`${id}/${d.id}`);
    this.fleet.release(id);
    this.log(`orchestrator: test ${id} ${TestState[test.state]}${test.message ? ` (${test.message})` : ""}`);
    // A driver given up on (missing, past a deadline) may come back: tell it the test is over.
    if (drivers.some((d) => !d.finished))
      void this.bus
        .publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.CANCEL }))
        .catch((err) => this.log(`orchestrator: could not tell the drivers test ${id} is over: ${String(err)}`));
  }

  /** Deadlines: start instant, missing or idle drivers, run and cancel deadlines. */
  private tick(now = Date.now()): void {
    this.fleet.sweep(now);
    const missingAfter = this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT;
    for (const live of [...this.live.values()]) {
      const test = live.test;
      const startAtMs = test.startAt ? msOf(test.startAt) : now;
      if (test.state === TestState.STARTING && now >= startAtMs) live.setState(TestState.RUNNING);
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
      const deadline = runDeadlineMs(test.spec!, startAtMs);
      const cancelBy = this.cancelDeadline.get(test.id);
      if ((deadline !== undefined && now > deadline) || (cancelBy !== undefined && now > cancelBy))
        for (const d of live.drivers.values()) live.lose(d.id, `driver ${d.id} sent no final metrics by the deadline`);
      if (live.allDone) this.finish(live);
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
