import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { ratePhases } from "../../workload/schedule.js";
import type { OpenModelPlan } from "../transport/transport.js";
import { arrivalRateCap } from "./arrival-rate.js";
import type { Share } from "./executor.js";
import { tsunamiCap } from "./tsunami.js";

/**
 * What one thread of a driver expects of an open model (tsunami, arrival rate): the highest rate
 * its part of the schedule reaches and its in-flight cap, from which the transport sizes the
 * connections it opens ahead of the start. Undefined for the closed model.
 */
export function openModelPlan(spec: TestSpec, share: Share, thread: { index: number; count: number }): OpenModelPlan | undefined {
  const w = spec.workload;
  if (w.case === "tsunami") return { ratePerS: 1000 / Math.max(1, w.value.delayMs) / thread.count, maxInFlight: tsunamiCap(w.value, thread) };
  if (w.case !== "arrivalRate") return undefined;
  // The fleet's rate, split over the drivers (share.count) and this driver's threads.
  const peak = ratePhases(w.value).reduce((most, p) => Math.max(most, p.fromPerS, p.toPerS), 0);
  return { ratePerS: peak / Math.max(1, share.count) / thread.count, maxInFlight: arrivalRateCap(w.value, thread) };
}
