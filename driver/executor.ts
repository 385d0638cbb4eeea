import type { HttpFirer } from "./http.js";
import type { IntervalRecorder } from "./recorder.js";

/** A requests scheduled this long behind time or more count as late. */
export const LATE_AFTER_MS = 10;

/** Everything a workload needs to run on one driver. */
export interface RunContext {
  firer: HttpFirer;
  recorder: IntervalRecorder;
  /** The fleet's common start, epoch ms. */
  startMs: number;
  /** No request starts at or after this instant (epoch ms): the test-level bound. */
  stopAtMs: number;
  /** Aborted on cancel or shutdown: stop issuing at once. */
  signal: AbortSignal;
  /** This driver's share index and the number of drivers in the test. */
  driverIndex: number;
  driverCount: number;
}

/** A workload: issues requests until its limit, the bound or the signal; resolves when it issues no more. */
export type Executor = (ctx: RunContext) => Promise<void>;
