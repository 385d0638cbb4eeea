import type { ArrivalRate } from "../gen/kannon/v1/test_pb.js";
import { dueOffsetsMs, ratePhases } from "../workload/schedule.js";
import { sleepUntil } from "./clock.js";
import type { Executor } from "./executor.js";

/**
 * Open model: this driver's share of the fleet's arrival schedule. A request due while
 * `max_in_flight` are outstanding is dropped and counted: the schedule never waits for the target.
 */
export function arrivalRate(spec: ArrivalRate): Executor {
  return async (ctx) => {
    const cap = spec.maxInFlight > 0 ? spec.maxInFlight : 1000;
    for (const offset of dueOffsetsMs(ratePhases(spec), ctx.driverIndex, ctx.driverCount)) {
      const due = ctx.startMs + offset;
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
