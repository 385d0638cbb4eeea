import type { Avalanche } from "../../gen/kannon/v1/test_pb.js";
import { sleepUntil } from "../clock.js";
import type { Executor } from "./executor.js";

/**
 * Closed model: `concurrency` loops, each sending its next request as soon as the last one ends
 * (on its own connection, or `pipelining` loops to a connection when the test asks for it).
 */
export function avalanche(spec: Avalanche): Executor {
  return async (ctx) => {
    const limit = ctx.requestLimit ?? (spec.limit.case === "requestsPerDriver" ? Number(spec.limit.value) : Number.POSITIVE_INFINITY);
    const stopAt = spec.limit.case === "durationMs" ? Math.min(ctx.startMs + spec.limit.value, ctx.stopAtMs) : ctx.stopAtMs;
    const concurrency = ctx.concurrency ?? spec.concurrency;
    if (concurrency < 1 || limit < 1) return;
    let issued = 0;
    // Asked before every request, once the previous one of its loop is recorded.
    const more = (now: number) => {
      if (issued >= limit || ctx.signal.aborted || now >= stopAt) return false;
      issued++;
      return true;
    };
    // Return at the stop instant or on abort even while requests are still out: the run drains them
    // (and aborts what a slow target still holds), so a stuck request never holds the test open.
    // The wait ends with the run too: a count-only run's stop instant never comes, and its timer
    // would otherwise outlive the test.
    const ran = new AbortController();
    try {
      await Promise.race([ctx.transport.runClosed(concurrency, more), sleepUntil(stopAt, AbortSignal.any([ctx.signal, ran.signal]))]);
    } finally {
      ran.abort();
    }
  };
}
