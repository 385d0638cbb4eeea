import { addEncoded, createLatencyHistogram, encodeHistogram } from "../../metrics/histogram.js";
import { addCounters } from "../../metrics/stats.js";
import { emptySnapshot, type IntervalSnapshot, type ScenarioSnapshot, type StepSnapshot } from "./recorder.js";

/**
 * One interval of a driver: its threads' intervals added up (histograms merged exactly), per step
 * and per scenario too when the parts carry them.
 */
export function mergeSnapshots(parts: IntervalSnapshot[]): IntervalSnapshot {
  if (parts.length === 1) return parts[0]!;
  const merged = emptySnapshot();
  for (const p of parts) addCounters(merged, p);
  merged.latencyHistogram = mergeEncoded(parts.map((p) => p.latencyHistogram));
  merged.serviceTimeHistogram = mergeEncoded(parts.map((p) => p.serviceTimeHistogram));
  merged.failedLatencyHistogram = mergeEncoded(parts.map((p) => p.failedLatencyHistogram));
  merged.handshakeHistogram = mergeEncoded(parts.map((p) => p.handshakeHistogram), true);
  merged.firstMessageHistogram = mergeEncoded(parts.map((p) => p.firstMessageHistogram), true);
  if (parts.some((p) => p.steps !== undefined)) merged.steps = mergeSteps(parts.flatMap((p) => p.steps ?? []));
  if (parts.some((p) => p.scenarios !== undefined)) merged.scenarios = mergeScenarios(parts.flatMap((p) => p.scenarios ?? []));
  return merged;
}

/** Encoded histograms added up exactly; with `emptyWhenNone`, none at all stays empty (absent). */
function mergeEncoded(encoded: Uint8Array[], emptyWhenNone = false): Uint8Array {
  if (emptyWhenNone && encoded.every((e) => e.length === 0)) return new Uint8Array(0);
  const h = createLatencyHistogram();
  for (const e of encoded) addEncoded(h, e);
  return encodeHistogram(h);
}

/** Entries grouped by their index, in ascending index. */
function byIndex<T>(entries: T[], index: (t: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const e of entries) {
    const i = index(e);
    const g = groups.get(i);
    if (g) g.push(e);
    else groups.set(i, [e]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

function mergeSteps(steps: StepSnapshot[]): StepSnapshot[] {
  return byIndex(steps, (s) => s.stepIndex).map((group) => {
    const first = group[0]!;
    return {
      stepIndex: first.stepIndex,
      counts: mergeSnapshots(group.map((s) => s.counts)),
      checks: first.checks.map((c, k) => ({
        name: c.name,
        passed: group.reduce((n, s) => n + (s.checks[k]?.passed ?? 0), 0),
        failed: group.reduce((n, s) => n + (s.checks[k]?.failed ?? 0), 0),
      })),
      captureMissing: group.reduce((n, s) => n + s.captureMissing, 0),
      abortedIterations: group.reduce((n, s) => n + s.abortedIterations, 0),
    };
  });
}

function mergeScenarios(scenarios: ScenarioSnapshot[]): ScenarioSnapshot[] {
  return byIndex(scenarios, (s) => s.scenarioIndex).map((group) => {
    if (group.length === 1) return group[0]!;
    return {
      scenarioIndex: group[0]!.scenarioIndex,
      iterations: group.reduce((n, s) => n + s.iterations, 0),
      aborted: group.reduce((n, s) => n + s.aborted, 0),
      iterationHistogram: mergeEncoded(group.map((s) => s.iterationHistogram)),
    };
  });
}
