import { create } from "@bufbuild/protobuf";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Subscription } from "../../bus/bus.js";
import {
  DataReadyMessageSchema,
  HeartbeatMessageSchema,
  MetricsMessageSchema,
  RegisterMessageSchema,
  TriggerAction,
  type TestConfigMessage,
  type TriggerMessage,
} from "../../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../../gen/kannon/v1/driver_pb.js";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { msOf, timestampAt } from "../../metrics/stats.js";
import { nowMs } from "../clock.js";
import { TestRun } from "./run.js";
import { checkThreads, LoadThreads } from "../load/threads.js";
import { loadThreadsFor, type DataPart, type LoadPart, type LoadPartOptions } from "../load/load.js";
import { HEARTBEAT_INTERVAL_MS } from "../../workload/defaults.js";
import { dataReadyDeadlineMs, strippedBytes } from "../../scenario/data.js";
import { DataIntake, type Intake } from "./data-intake.js";
import type { DriverAgent, DriverOptions } from "./driver-options.js";

/** A config that gets no trigger within this long is dropped and the driver is ready again. */
export const ARM_TIMEOUT_MS = 30_000;
/** Version string drivers report. */
export const DRIVER_VERSION = "kannon-ts/0.1.0";

export type { DriverAgent, DriverOptions } from "./driver-options.js";

interface Armed {
  config: TestConfigMessage;
  /** Undefined while the driver's part of the test's data files is on its way. */
  run: TestRun | undefined;
  done?: Promise<void>;
  armTimer?: NodeJS.Timeout;
}

/** Creates a driver that joins the fleet over `bus`. */
export function createDriver(options: DriverOptions): DriverAgent {
  const bus = options.bus;
  const id = options.id ?? `driver-${randomUUID().slice(0, 8)}`;
  const instanceId = randomUUID();
  let refused = false;
  const log = options.log ?? ((m: string) => console.log(m));
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
  const armTimeoutMs = options.armTimeoutMs ?? ARM_TIMEOUT_MS;
  const threadCount = options.threads ?? 1;
  // Checked here, so that a bad count fails before the driver joins the fleet.
  checkThreads(threadCount);
  const ownThreads = !options.pool && (threadCount > 1 || options.workers) ? new LoadThreads(threadCount) : undefined;
  const makeParts: ((o: Omit<LoadPartOptions, "thread">) => LoadPart[]) | undefined = options.pool
    ? (o) => options.pool!.threads.parts(o, loadThreadsFor(o.spec, threadCount), options.pool!.first)
    : ownThreads
      ? (o) => ownThreads.parts(o, loadThreadsFor(o.spec, threadCount))
      : undefined;
  let subscription: Subscription | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let armed: Armed | undefined;
  let stopping = false;
  /** Triggers that arrived before their config (topics are not ordered with each other). */
  const earlyTriggers = new Map<string, TriggerMessage>();
  /**
   * Tests this driver will not run (again): per test id, the highest start attempt it finished,
   * was cancelled in, or gave up on. A redelivered config or START of such an attempt is ignored;
   * a later attempt (a retried StartTest) runs.
   */
  const over = new Map<string, number>();
  const isOver = (testId: string, attempt: number) => {
    const last = over.get(testId);
    return last !== undefined && attempt <= last;
  };
  /** This driver's parts of tests' data files, as they arrive. */
  const intake = new DataIntake(id);
  const markOver = (testId: string, attempt: number) => {
    intake.drop(testId, attempt);
    const last = Math.max(attempt, over.get(testId) ?? 0);
    over.delete(testId); // re-inserted as the newest
    over.set(testId, last);
    trim(over);
  };
  /** The latest clock probe received and not yet echoed in a heartbeat. */
  let probe: { sentAt: Timestamp; receivedAt: Timestamp } | undefined;
  /** Keeps a remembered set or map to its newest 64 entries. */
  const trim = (kept: { size: number; keys(): IterableIterator<string>; delete(key: string): boolean }) => {
    if (kept.size > 64) kept.delete(kept.keys().next().value as string);
  };

  const state = () => (armed ? DriverState.BUSY : DriverState.READY);

  const beat = () => {
    // sent_at and the probe's arrival are on the clock the driver runs tests by (nowMs).
    const echo = probe ? { probeSentAt: probe.sentAt, probeReceivedAt: probe.receivedAt } : {};
    probe = undefined;
    return bus
      .publish(
        "heartbeat",
        id,
        create(HeartbeatMessageSchema, { driverId: id, instanceId, sentAt: timestampAt(nowMs()), state: state(), testId: armed?.config.testId ?? "", ...echo }),
      )
      .catch((err) => log(`driver ${id}: heartbeat failed: ${String(err)}`));
  };

  /** A final message with no metrics, for a test (attempt) this driver will not run. */
  const finalWithoutRun = (testId: string, error: string, attempt: number, what: string) =>
    bus
      .publish("metrics", id, create(MetricsMessageSchema, { testId, driverId: id, final: true, error, attempt }))
      .catch((err) => log(`driver ${id}: could not report ${what} of ${testId}: ${String(err)}`));
  /** Refuses a test: its final message says why (`reason`). */
  const refuse = (testId: string, reason: string, attempt: number) => finalWithoutRun(testId, reason, attempt, "refusal");

  function onConfig(config: TestConfigMessage): void {
    const index = config.driverIds.indexOf(id);
    const attempt = config.attempt;
    if (index < 0 && config.spec?.dataFiles.length) intake.ignore(config.testId, attempt);
    if (index < 0 || !config.spec || isOver(config.testId, attempt) || refused) return;
    if (stopping) {
      void refuse(config.testId, `driver ${id} is shutting down`, attempt);
      return;
    }
    if (armed) {
      const same = armed.config.testId === config.testId;
      if (same && attempt > armed.config.attempt && !armed.done) {
        // A retried start of the test it was armed for (the earlier attempt failed to start): the
        // earlier one is given up, the orchestrator no longer waits for it.
        clearTimeout(armed.armTimer);
        markOver(config.testId, armed.config.attempt);
        armed = undefined;
      } else {
        if (!same) void refuse(config.testId, `driver ${id} is busy with test ${armed.config.testId}`, attempt);
        else if (attempt > armed.config.attempt)
          void refuse(config.testId, `driver ${id} is still running start attempt ${armed.config.attempt} of test ${config.testId}`, attempt);
        return;
      }
    }
    const spec = config.spec;
    const makeRun = (data?: ReadonlyMap<string, DataPart>) =>
      new TestRun({
        testId: config.testId,
        driverId: id,
        spec,
        driverIndex: index,
        driverCount: config.driverIds.length,
        publish: (m) => {
          m.attempt = attempt;
          return bus.publish("metrics", id, m);
        },
        log,
        onSample: options.onSample,
        transport: options.transport,
        parts: makeParts,
        data,
      });
    const cannot = (err: unknown) => `driver ${id} cannot run the test: ${err instanceof Error ? err.message : String(err)}`;
    let run: TestRun | undefined;
    if (spec.dataFiles.length === 0) {
      try {
        run = makeRun();
      } catch (err) {
        void refuse(config.testId, cannot(err), attempt);
        return;
      }
    }
    const entry: Armed = { config, run };
    // With data files, the trigger comes once every driver holds its part: the wait is longer.
    arm(entry, armTimeoutMs + (run ? 0 : dataReadyDeadlineMs(strippedBytes(spec.dataFiles))));
    armed = entry;
    void beat();
    if (!run) intake.expect(config, (got) => onData(entry, got, makeRun, cannot));
    const early = earlyTriggers.get(config.testId);
    if (early && early.attempt === attempt) {
      earlyTriggers.delete(config.testId);
      onTrigger(early);
    }
  }

  /** Drops an armed test that gets no trigger within `ms`. */
  function arm(entry: Armed, ms: number): void {
    const { config } = entry;
    const attempt = config.attempt;
    clearTimeout(entry.armTimer);
    entry.armTimer = setTimeout(() => {
      if (armed === entry && !entry.done) {
        log(`driver ${id}: no trigger for test ${config.testId} within ${ms} ms; ready again`);
        armed = undefined;
        markOver(config.testId, attempt);
        void refuse(config.testId, `driver ${id} got no trigger within ${ms} ms`, attempt);
        void beat();
      }
    }, ms);
  }

  /** This driver holds its part of the data files (or cannot): the run is made, and the orchestrator told. */
  function onData(entry: Armed, got: Intake, makeRun: (data: ReadonlyMap<string, DataPart>) => TestRun, cannot: (err: unknown) => string): void {
    if (armed !== entry) return;
    let error = "error" in got ? `driver ${id} could not assemble its part: ${got.error}` : "";
    if ("data" in got) {
      try {
        entry.run = makeRun(got.data);
        arm(entry, armTimeoutMs);
      } catch (err) {
        error = cannot(err);
      }
    }
    const { testId, attempt } = entry.config;
    const rows = "rows" in got ? got.rows : {};
    // On an error the orchestrator fails the start and cancels the attempt.
    void bus
      .publish("data_ready", id, create(DataReadyMessageSchema, { testId, driverId: id, attempt, rows, error }))
      .catch((err) => log(`driver ${id}: could not confirm its data of ${testId}: ${String(err)}`));
  }

  function onTrigger(trigger: TriggerMessage): void {
    if (trigger.action === TriggerAction.REFUSE) {
      if (trigger.instanceId !== instanceId || refused) return;
      refused = true;
      clearInterval(heartbeat);
      log(`driver ${id}: refused by the orchestrator: ${trigger.reason}`);
      options.onRefused?.(trigger.reason);
      return;
    }
    if (trigger.action === TriggerAction.CLOCK_PROBE) {
      if (trigger.sentAt) probe = { sentAt: trigger.sentAt, receivedAt: timestampAt(nowMs()) };
      return;
    }
    if (refused) return;
    const attempt = trigger.attempt;
    // A CANCEL stops its attempt and earlier ones; START and RESHARE belong to one attempt.
    const applies =
      armed !== undefined &&
      armed.config.testId === trigger.testId &&
      (trigger.action === TriggerAction.CANCEL ? attempt === 0 || attempt >= armed.config.attempt : attempt === armed.config.attempt);
    if (!applies) {
      // Maybe its config is still on its way; remember a few.
      if (trigger.action === TriggerAction.START && !isOver(trigger.testId, attempt)) {
        earlyTriggers.set(trigger.testId, trigger);
        trim(earlyTriggers);
      } else if (trigger.action === TriggerAction.CANCEL) {
        const early = earlyTriggers.get(trigger.testId);
        if (early && (attempt === 0 || early.attempt <= attempt)) earlyTriggers.delete(trigger.testId);
        markOver(trigger.testId, attempt);
      }
      return;
    }
    const entry = armed!;
    if (trigger.action === TriggerAction.CANCEL) {
      entry.run?.cancel();
      if (!entry.done) {
        // Cancelled before it started: an empty final (no error: nothing failed), so the orchestrator is not left waiting.
        clearTimeout(entry.armTimer);
        armed = undefined;
        markOver(trigger.testId, entry.config.attempt);
        void finalWithoutRun(trigger.testId, "", entry.config.attempt, "the cancel").then(beat);
      }
      return;
    }
    if (trigger.action === TriggerAction.RESHARE) {
      const sinceMs = trigger.startAt ? msOf(trigger.startAt) : nowMs();
      if (entry.run && !entry.run.reshare(trigger.driverIds, sinceMs)) log(`driver ${id}: test ${trigger.testId} was re-split without this driver`);
      return;
    }
    if (trigger.action !== TriggerAction.START || entry.done || !entry.run) return;
    clearTimeout(entry.armTimer);
    const startAtMs = trigger.startAt ? msOf(trigger.startAt) : nowMs();
    entry.done = entry.run.run(startAtMs).finally(() => {
      markOver(entry.config.testId, entry.config.attempt);
      if (armed === entry) armed = undefined;
      void beat();
    });
  }

  return {
    id,
    instanceId,
    get state() {
      return state();
    },
    get loadThreadIds() {
      if (options.pool) {
        const ids = options.pool.threads.threadIds;
        return Array.from({ length: threadCount }, (_, i) => ids[(options.pool!.first + i) % ids.length]!);
      }
      return ownThreads?.threadIds ?? [];
    },
    async threadHeaps() {
      return ownThreads ? ownThreads.heapUsed() : [];
    },
    async start() {
      await ownThreads?.start();
      subscription = await bus.subscribe(
        { kind: "broadcast", id },
        { test_config: (m) => onConfig(m), trigger: (m) => onTrigger(m), data: (m) => intake.onChunk(m) },
      );
      await bus.publish(
        "register",
        id,
        create(RegisterMessageSchema, {
          driverId: id,
          instanceId,
          host: options.host ?? hostname(),
          address: options.address ?? hostname(),
          version: DRIVER_VERSION,
          sentAt: timestampAt(Date.now()),
        }),
      );
      heartbeat = setInterval(() => void beat(), heartbeatIntervalMs);
      void beat();
    },
    async idle() {
      await armed?.done;
    },
    async stop({ deadlineMs = 15_000 } = {}) {
      stopping = true;
      const current = armed;
      if (current) {
        current.run?.cancel(`driver ${id} shut down during the run`);
        clearTimeout(current.armTimer);
        if (!current.done) {
          armed = undefined;
          await refuse(current.config.testId, `driver ${id} shut down before the start`, current.config.attempt);
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([current.done, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
        clearTimeout(timer);
        current.run?.abandon();
      }
      clearInterval(heartbeat);
      await subscription?.close();
      await ownThreads?.close();
      await bus
        .publish(
          "register",
          id,
          create(RegisterMessageSchema, { driverId: id, instanceId, leaving: true, sentAt: timestampAt(Date.now()) }),
        )
        .catch((err) => log(`driver ${id}: could not announce leaving: ${String(err)}`));
    },
  };
}
