import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { msOf } from "../metrics/stats.js";
import type { Fleet } from "./fleet.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import type { Ending, LiveTest } from "./live-test.js";
import { runDeadlineMs } from "./plan.js";

/**
 * The bookkeeping of running tests' deadlines: when a cancel expects the finals by, how long the
 * bus was unreachable during each (its deadlines move by that), and since when a driver has not
 * been running the test it was given.
 */
export class RunDeadlines {
  private readonly notRunningSince = new Map<string, number>();
  private readonly cancelBy = new Map<string, number>();
  private readonly pausedMs = new Map<string, number>();

  /** A test was cancelled: its drivers' finals are expected by `byMs`. */
  cancelled(testId: string, byMs: number): void {
    this.cancelBy.set(testId, byMs);
  }

  /** The bus was unreachable for `gap` ms: the tests' deadlines move by it, drivers get a fresh window. */
  paused(testIds: Iterable<string>, gap: number): void {
    for (const id of testIds) this.pausedMs.set(id, (this.pausedMs.get(id) ?? 0) + gap);
    this.notRunningSince.clear();
  }

  /** Judges a running test's drivers (see {@link judgeDrivers}). */
  judge(live: LiveTest, c: Pick<JudgeContext, "fleet" | "now" | "caughtUpAt" | "missingAfterMs">): void {
    const id = live.test.id;
    judgeDrivers(live, { ...c, notRunningSince: this.notRunningSince, pausedMs: this.pausedMs.get(id) ?? 0, cancelBy: this.cancelBy.get(id) });
  }

  /** A test ended: forgets its entries. */
  forget(testId: string, driverIds: Iterable<string>): void {
    this.cancelBy.delete(testId);
    this.pausedMs.delete(testId);
    for (const d of driverIds) this.notRunningSince.delete(`${testId}/${d}`);
  }
}

/** What judging a running test's drivers needs. */
export interface JudgeContext {
  fleet: Fleet;
  now: number;
  /** Everything published before this instant has been ingested. */
  caughtUpAt: number;
  /** The miss window: heartbeat interval × missed beats. */
  missingAfterMs: number;
  /** Per `test/driver`: since when a driver has not been running the test it was given. */
  notRunningSince: Map<string, number>;
  /** How long the bus was unreachable during the test (its deadlines move by that). */
  pausedMs: number;
  /** When a cancel expects the drivers' finals by, if it was cancelled. */
  cancelBy: number | undefined;
}

/**
 * Declares lost the drivers of a running test that are MISSING, left, are not running it (each
 * after a miss window, since Kafka does not order a leaving driver's final before its leave), or
 * that sent no final by the run's or the cancel's deadline. Call only while the liveness evidence
 * holds and ingestion is current; a deadline counts only once everything sent before it was
 * ingested (a final that is not here then was never sent).
 */
export function judgeDrivers(live: LiveTest, c: JudgeContext): void {
  const test = live.test;
  const startAtMs = test.startAt ? msOf(test.startAt) : c.now;
  for (const d of live.drivers.values()) {
    if (d.finished || d.lost) continue;
    const driver = c.fleet.get(d.id);
    const key = `${test.id}/${d.id}`;
    if (!driver || driver.state === DriverState.MISSING) live.lose(d.id, `driver ${d.id} went missing (no heartbeat for ${c.missingAfterMs} ms)`);
    else if (driver.state === DriverState.LEFT || (c.now > startAtMs + c.missingAfterMs && driver.testId !== test.id)) {
      const since = c.notRunningSince.get(key) ?? c.now;
      c.notRunningSince.set(key, since);
      if (c.now - since > c.missingAfterMs)
        live.lose(d.id, driver.state === DriverState.LEFT ? `driver ${d.id} left the fleet` : `driver ${d.id} is not running the test`);
    } else c.notRunningSince.delete(key);
  }
  const base = runDeadlineMs(test.spec!, startAtMs);
  const past = (at: number | undefined) => at !== undefined && c.now > at && c.caughtUpAt > at;
  if (past(base === undefined ? undefined : base + c.pausedMs) || past(c.cancelBy === undefined ? undefined : c.cancelBy + c.pausedMs))
    for (const d of live.drivers.values()) live.lose(d.id, `driver ${d.id} sent no final metrics by the deadline`);
}

/**
 * How a sealed run ended: CANCELLED when a cancel was asked for (even one that came in while its
 * end was being stored), FAILED when no driver ran it (each gave a reason and counted nothing),
 * else COMPLETED.
 */
export function endingOf(live: LiveTest): Ending {
  if (live.cancelRequested) return { state: TestState.CANCELLED, message: live.abortMessage ? `aborted (abort_on_fail): ${live.abortMessage}` : "cancelled by request" };
  if ([...live.drivers.values()].every((d) => d.message !== "" && d.totals.total.requests === 0)) return { state: TestState.FAILED, message: "no driver ran the test" };
  return { state: TestState.COMPLETED, message: "" };
}
