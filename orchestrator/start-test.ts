import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Bus } from "../bus/bus.js";
import { TestConfigMessageSchema, TriggerAction, TriggerMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { TestSchema, TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { dataReadyDeadlineMs, strippedBytes } from "../scenario/data.js";
import { DEFAULT_START_DELAY_MS } from "../workload/defaults.js";
import { pickDrivers } from "./clock-offset.js";
import { abandonedStart, type DataDistribution } from "./data-start.js";
import { DomainError } from "./errors.js";
import type { Fleet } from "./fleet.js";
import { LiveTest } from "./live-test.js";
import type { Store } from "./store.js";
import { withTlsKey } from "./tls-key.js";

/** What {@link startCreated} works with: the parts of the orchestrator a start touches. */
export interface StartContext {
  bus: Bus;
  store: Store;
  fleet: Fleet;
  data: DataDistribution;
  /** Running tests by id: the start adds its test before anything is sent, and takes it out again if the start fails. */
  live: Map<string, LiveTest>;
  /** Since when the data plane has been unreachable (ms since the epoch), or undefined. */
  stalledSince: number | undefined;
  /** Overrides how long drivers get to confirm their data parts (OrchestratorOptions.dataReadyMs). */
  dataReadyMs: number | undefined;
  /** The live state of a test that is starting. */
  newLive: (test: Test) => LiveTest;
  /** Publishes a trigger on which nothing waits; resolves to whether it was sent. */
  tell: (key: string, trigger: MessageInitShape<typeof TriggerMessageSchema>, where: string, failed: string) => Promise<boolean>;
}

/**
 * StartTest for a CREATED `test`: picks drivers, sends them the config (and each its part of the
 * data files, waiting until every driver holds it) and a trigger with a common start instant;
 * returns the test's live state, STARTING. When the drivers cannot be reached, the test is
 * CREATED again (its next start is the next attempt) and whatever reached a driver is cancelled.
 */
export async function startCreated(test: Test, ctx: StartContext): Promise<LiveTest> {
  const id = test.id;
  if (test.state !== TestState.CREATED)
    throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; only a CREATED test can be started`);
  if (ctx.stalledSince !== undefined)
    throw new DomainError("unavailable", `the data plane has been unreachable for ${Date.now() - ctx.stalledSince} ms; test "${id}" stays CREATED: start it again once the bus is back`);
  const spec = test.spec!;
  const picked = pickDrivers(ctx.fleet.ready(), spec.driverCount);
  if ("problem" in picked) throw new DomainError("failed_precondition", `test "${id}" ${picked.problem}`);
  const drivers = picked.ids;
  const prepared = spec.dataFiles.length > 0 ? ctx.data.prepare(id, spec) : undefined;
  const delayMs = spec.startDelayMs || DEFAULT_START_DELAY_MS;
  // With data files: provisional, past the longest wait for the drivers' parts; set once they hold them.
  const startAtMs = Date.now() + delayMs + (prepared ? (ctx.dataReadyMs ?? dataReadyDeadlineMs(strippedBytes(spec.dataFiles))) : 0);
  // Numbered, so that the CANCEL of a start that fails below stops only this attempt on the drivers.
  const attempt = test.startAttempt + 1;
  const started = clone(TestSchema, test);
  started.startAttempt = attempt;
  started.state = TestState.STARTING;
  started.driverIds = drivers;
  started.startAt = timestampAt(startAtMs);
  if (prepared) started.spec = prepared.spec;
  ctx.fleet.reserve(drivers, id);
  ctx.store.putTest(started);
  // Live before anything is sent: a driver's first answer (or a cancel) may come back before
  // the publishes are acknowledged.
  const live = ctx.newLive(started);
  ctx.live.set(id, live);
  try {
    await ctx.bus.publish("test_config", id, create(TestConfigMessageSchema, { testId: id, spec: withTlsKey(started.spec!, ctx.store.getTlsKey(id)), driverIds: drivers, attempt }));
    if (prepared) {
      const abandoned = () => abandonedStart(live, () => ctx.live.get(id));
      await ctx.data.distribute({ testId: id, attempt, driverIds: drivers, prepared, abandoned, deadlineMs: ctx.dataReadyMs });
      live.startsAt(timestampAt(Date.now() + delayMs));
      ctx.store.putTest(live.test);
    }
    await ctx.bus.publish("trigger", id, create(TriggerMessageSchema, { testId: id, action: TriggerAction.START, startAt: live.test.startAt!, attempt }));
  } catch (err) {
    // Cancelled meanwhile, or every driver refused it (it is ending): that ends the test.
    if (ctx.live.get(id) !== live || live.cancelRequested || live.sealed) throw err;
    ctx.live.delete(id);
    ctx.fleet.release(id);
    // CREATED again; the next StartTest is attempt + 1.
    const again = clone(TestSchema, test);
    again.startAttempt = attempt;
    ctx.store.putTest(again);
    // Whatever did reach a driver must not run (this attempt only: a retry is not affected).
    void ctx.tell(id, { testId: id, action: TriggerAction.CANCEL, attempt }, "cancel_unstarted", `could not cancel attempt ${attempt} of test ${id}, whose start failed`);
    throw err instanceof DomainError ? err : new DomainError("unavailable", `could not reach the drivers to start test "${id}": ${String(err)}`);
  }
  return live;
}

/** What {@link newLiveTest} hands a test's live state. */
export interface LiveHooks {
  store: Store;
  log: (message: string) => void;
  /** Handles the failure of work nothing waits for (Orchestrator.failure). */
  failure: (where: string, failed: string) => (err: unknown) => void;
  /** Cancels a test (Orchestrator.cancelTest). */
  cancel: (id: string) => Promise<unknown>;
}

/**
 * The live state of a test that starts or is resumed after a restart: its merged intervals and
 * its drivers' losses are stored as they come; with abort_on_fail, a threshold's breach cancels
 * it, with the breach as its message.
 */
export function newLiveTest(test: Test, hooks: LiveHooks): LiveTest {
  const { store, failure } = hooks;
  const live = new LiveTest(
    test,
    (stats) => void store.putInterval(test.id, stats).catch(failure("store_interval", `could not store interval ${stats.interval} of test ${test.id}`)),
    (driverId, message, at) => void store.putLoss(test.id, { driverId, message, at }).catch(failure("store_loss", `could not store the loss of ${driverId} (test ${test.id})`)),
  );
  if (test.spec?.abortOnFail)
    live.onBreach = (message) => {
      if (live.cancelRequested || live.sealed) return;
      live.abortMessage = message;
      // Stored with the cancel (cancelTest stores the test), so a restarted orchestrator still says why.
      live.test = clone(TestSchema, live.test);
      live.test.message = message;
      hooks.log(`orchestrator: test ${test.id}: ${message}; cancelling it (abort_on_fail)`);
      void hooks.cancel(test.id).catch(failure("abort", `could not cancel test ${test.id} on a threshold's breach`));
    };
  return live;
}
