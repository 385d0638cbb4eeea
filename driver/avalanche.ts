import type { Avalanche } from "../gen/kannon/v1/test_pb.js";
import { nowMs, sleepUntil } from "./clock.js";
import type { Executor } from "./executor.js";

/** Closed model: `concurrency` loops, each sending its next request as soon as the last one ends. */
export function avalanche(spec: Avalanche): Executor {
  return async (ctx) => {
    const limit = spec.limit.case === "requestsPerDriver" ? Number(spec.limit.value) : Number.POSITIVE_INFINITY;
    const stopAt = spec.limit.case === "durationMs" ? Math.min(ctx.startMs + spec.limit.value, ctx.stopAtMs) : ctx.stopAtMs;
    let issued = 0;
    const loop = async () => {
      while (issued < limit && !ctx.signal.aborted && nowMs() < stopAt) {
        issued++;
        await ctx.firer.fire();
      }
    };
    // Return at the stop instant or on abort even while requests are still out: the run drains them
    // (and aborts what a slow target still holds), so a stuck request never holds the test open.
    await Promise.race([Promise.all(Array.from({ length: spec.concurrency }, loop)), sleepUntil(stopAt, ctx.signal)]);
  };
}
