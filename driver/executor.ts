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
  /** This driver's share of a fleet-wide schedule; replaced when the orchestrator re-splits it. */
  share: Share;
  /** Ends the run's schedule early for a reason the final message carries (in-flight requests complete). */
  halt(reason: string): void;
}

/** Which part of a fleet-wide schedule a driver takes: request indexes ≡ index (mod count). */
export interface Share {
  /** -1: none from `sinceMs` on (the fleet was re-split without this driver). */
  index: number;
  count: number;
  /** From when (epoch ms) this share applies; the start for the first one. */
  sinceMs: number;
  /** Bumped on every re-split. */
  version: number;
}

/** A workload: issues requests until its limit, the bound or the signal; resolves when it issues no more. */
export type Executor = (ctx: RunContext) => Promise<void>;
