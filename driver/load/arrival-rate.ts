import type { ArrivalRate } from "../../gen/kannon/v1/test_pb.js";
import { dueOffsetsMs, firstIndexFrom, ratePhases } from "../../workload/schedule.js";
import { HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../../workload/defaults.js";
import { nowMs } from "../clock.js";
import { dueWaiter, LATE_AFTER_MS, splitEvenly, type Executor } from "./executor.js";

/** The in-flight cap of one thread of a driver: the driver's (`max_in_flight`, 0 meaning 1000), split over its threads. */
export function arrivalRateCap(spec: ArrivalRate, thread: { index: number; count: number }): number {
  return Math.max(1, splitEvenly(spec.maxInFlight > 0 ? spec.maxInFlight : 1000, thread.index, thread.count));
}

/** Behind its schedule by more than the miss window, a driver may have been declared lost. */
const STALLED_AFTER_MS = HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_LIMIT;

/**
 * Open model: this driver's share of the fleet's arrival schedule. A request due while
 * `max_in_flight` are outstanding is dropped and counted: the schedule never waits for the target.
 * When the orchestrator re-splits the schedule (`ctx.share` changes), the driver keeps its old share
 * until the new split's instant and takes its new share from there, so no request index is lost
 * or sent twice by the drivers that remain. A re-split without this driver (it was declared lost)
 * ends its share at the split's instant; a driver that finds itself a whole miss window behind
 * its schedule (it was paused, or starved) ends its share at once, since the orchestrator may have
 * handed it to the others meanwhile: no request is sent twice.
 */
export function arrivalRate(spec: ArrivalRate): Executor {
  return async (ctx) => {
    const untilDue = dueWaiter(ctx.signal);
    const cap = arrivalRateCap(spec, ctx.thread);
    const phases = ratePhases(spec);
    let version = ctx.share.version;
    let offsets = dueOffsetsMs(phases, ctx.share.index, ctx.share.count);
    for (;;) {
      let next = offsets.next();
      if (ctx.share.version !== version) {
        const share = ctx.share;
        const fromOffset = share.sinceMs - ctx.startMs;
        if (share.index < 0 && (next.done || next.value >= fromOffset)) break;
        if (share.index >= 0 && (next.done || next.value >= fromOffset)) {
          version = share.version;
          offsets = dueOffsetsMs(phases, firstIndexFrom(phases, fromOffset, share.index, share.count), share.count);
          next = offsets.next();
        }
      }
      if (next.done) break;
      const due = ctx.startMs + next.value;
      if (due >= ctx.stopAtMs) break;
      const wait = untilDue(due);
      if (wait) await wait;
      if (ctx.signal.aborted) break;
      const behind = nowMs() - due;
      if (behind > STALLED_AFTER_MS) {
        ctx.halt(`driver fell ${Math.round(behind)} ms behind its schedule (paused or starved), longer than the miss window: it stopped its share, which the fleet may have re-split`);
        break;
      }
      if (ctx.transport.inFlight >= cap) {
        ctx.recorder.drop();
        continue;
      }
      // The loop woke this far behind (a busy event loop): sent now, counted late, latency still from `due`.
      if (behind >= LATE_AFTER_MS) ctx.recorder.lateStart();
      ctx.transport.fire(due);
    }
  };
}
