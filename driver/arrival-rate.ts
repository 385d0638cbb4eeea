import type { ArrivalRate } from "../gen/kannon/v1/test_pb.js";
import { dueOffsetsMs, firstIndexFrom, ratePhases } from "../workload/schedule.js";
import { sleepUntil } from "./clock.js";
import type { Executor } from "./executor.js";

/**
 * Open model: this driver's share of the fleet's arrival schedule. A request due while
 * `max_in_flight` are outstanding is dropped and counted: the schedule never waits for the target.
 * When the orchestrator re-splits the schedule (`ctx.share` changes), the driver keeps its old share
 * until the new split's instant and takes its new share from there, so no request index is lost
 * or sent twice by the drivers that remain.
 */
export function arrivalRate(spec: ArrivalRate): Executor {
  return async (ctx) => {
    const cap = spec.maxInFlight > 0 ? spec.maxInFlight : 1000;
    const phases = ratePhases(spec);
    let version = ctx.share.version;
    let offsets = dueOffsetsMs(phases, ctx.share.index, ctx.share.count);
    for (;;) {
      let next = offsets.next();
      if (ctx.share.version !== version) {
        const share = ctx.share;
        const fromOffset = share.sinceMs - ctx.startMs;
        if (next.done || next.value >= fromOffset) {
          version = share.version;
          offsets = dueOffsetsMs(phases, firstIndexFrom(phases, fromOffset, share.index, share.count), share.count);
          next = offsets.next();
        }
      }
      if (next.done) break;
      const due = ctx.startMs + next.value;
      if (due >= ctx.stopAtMs) break;
      await sleepUntil(due, ctx.signal);
      if (ctx.signal.aborted) break;
      if (ctx.firer.inFlight >= cap) {
        ctx.recorder.drop();
        continue;
      }
      void ctx.firer.fire(due);
    }
  };
}
