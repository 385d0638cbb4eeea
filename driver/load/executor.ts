import { nowMs } from "../clock.js";
import type { Transport } from "../transport/transport.js";
import type { IntervalRecorder } from "./recorder.js";

/** A requests scheduled this long behind time or more count as late. */
export const LATE_AFTER_MS = 10;

/** Requests already due that a scheduled executor fires in a row before it lets I/O in. */
export const DUE_BURST = 16;

/**
 * The wait of a scheduled executor (tsunami, arrival rate) for each request's due instant: a
 * timer while the instant is ahead; when it has passed (the schedule is behind, or several
 * requests fall due within the timer's millisecond), nothing to wait for (undefined: the caller
 * fires it in the same run), except every {@link DUE_BURST}th request, which first lets the event
 * loop read the sockets. Without that, a schedule behind fired everything due in one run of
 * microtasks, no response was read meanwhile, and on a 2-core machine under load, at 20,000/s,
 * the first 50 ms filled the in-flight cap (1,000) with requests the target had long answered:
 * drops and a connection opened for each. One abort listener for the whole run, not one per
 * timer: adding and removing an AbortSignal listener per wait showed in profiles.
 */
export function dueWaiter(signal: AbortSignal): (dueMs: number) => Promise<void> | undefined {
  let inRow = 0;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  signal.addEventListener(
    "abort",
    () => {
      clearTimeout(timer);
      wake?.();
    },
    { once: true },
  );
  const sleep = (dueMs: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      // Timers may fire early: armed again until the instant has passed (or the run aborts).
      const arm = () => {
        const wait = dueMs - nowMs();
        if (wait <= 0 || signal.aborted) resolve();
        else timer = setTimeout(arm, Math.min(Math.ceil(wait), 3_600_000));
      };
      arm();
    });
  return (dueMs) => {
    if (dueMs > nowMs()) {
      inRow = 0;
      return sleep(dueMs);
    }
    if (++inRow < DUE_BURST) return undefined;
    inRow = 0;
    return new Promise((resolve) => setImmediate(resolve));
  };
}

/** Everything a workload needs to run on one driver. */
export interface RunContext {
  transport: Transport;
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
  /**
   * Which of the driver's threads this is: a driver running N threads splits its own work N ways
   * (avalanche: concurrency and request count; tsunami: request k goes to thread k mod N; arrival
   * rate: the share is split again, see {@link threadShare}). One thread: index 0 of 1.
   */
  thread: { index: number; count: number };
  /** Avalanche: this thread's loops and request count (the driver's, split over its threads). */
  concurrency?: number;
  requestLimit?: number;
}

/** This thread's part of `total` split over `count` threads as evenly as possible (the first ones take the remainder). */
export function splitEvenly(total: number, index: number, count: number): number {
  if (!Number.isFinite(total)) return total;
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}

/**
 * Thread `thread.index` of a driver's `thread.count` takes the driver's share's indexes whose
 * position in that share is ≡ thread.index (mod thread.count): request indexes
 * ≡ share.index + thread.index·share.count (mod share.count·thread.count). A share of none stays none.
 */
export function threadShare(share: Share, thread: { index: number; count: number }): Share {
  if (share.index < 0 || thread.count === 1) return { ...share };
  return { ...share, index: share.index + thread.index * share.count, count: share.count * thread.count };
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
