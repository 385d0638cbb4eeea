import type { Tsunami } from "../../gen/kannon/v1/test_pb.js";
import { nowMs } from "../clock.js";
import { dueWaiter, LATE_AFTER_MS, splitEvenly, type Executor } from "./executor.js";

/** The in-flight cap of one thread of a driver: the driver's (`max_in_flight`, 0 meaning none), split over its threads. */
export function tsunamiCap(spec: Tsunami, thread: { index: number; count: number }): number {
  return spec.maxInFlight > 0 ? Math.max(1, splitEvenly(spec.maxInFlight, thread.index, thread.count)) : Number.POSITIVE_INFINITY;
}

/**
 * Fixed schedule: request k is due at start + k·delay_ms, start to start, whatever the responses
 * do. Latency counts from the due time; a request held back by the in-flight cap or a busy event
 * loop starts late and is counted late, never silently shifted. The run still ends at its
 * duration: requests the cap holds back past the end are counted dropped, never sent after it,
 * and a cancel frees a request waiting for a slot at once.
 */
export function tsunami(spec: Tsunami): Executor {
  return async (ctx) => {
    const untilDue = dueWaiter(ctx.signal);
    const limit = spec.limit.case === "requestsPerDriver" ? Number(spec.limit.value) : Number.POSITIVE_INFINITY;
    const endAt = spec.limit.case === "durationMs" ? Math.min(ctx.startMs + spec.limit.value, ctx.stopAtMs) : ctx.stopAtMs;
    const cap = tsunamiCap(spec, ctx.thread);
    // A driver's threads take turns: thread t of N sends requests t, t + N, t + 2N, …
    const { index: first, count: step } = ctx.thread;
    for (let k = first; k < limit; k += step) {
      const due = ctx.startMs + k * spec.delayMs;
      if (due >= endAt) break;
      const wait = untilDue(due);
      if (wait) await wait;
      if (ctx.signal.aborted) break;
      if (ctx.transport.inFlight >= cap && !(await ctx.transport.waitForSlot(cap, endAt, ctx.signal))) {
        // The end came while the cap held this request back: it and every one still due are dropped.
        if (!ctx.signal.aborted) ctx.recorder.drop(Math.ceil((Math.min(limit, Math.ceil((endAt - ctx.startMs) / spec.delayMs)) - k) / step));
        break;
      }
      if (ctx.signal.aborted) break;
      if (nowMs() - due >= LATE_AFTER_MS) ctx.recorder.lateStart();
      ctx.transport.fire(due);
    }
  };
}
