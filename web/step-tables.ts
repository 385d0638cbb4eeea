/**
 * A scenario test's rows beside the total (report.proto Stats.scenarios and Stats.steps), as HTML
 * tables for the HTML report, and as the extra rows and columns of the intervals CSV. Browser-safe.
 * A single-request test has neither: these return nothing for it.
 */
import type { LatencyStats, Stats } from "../gen/kannon/v1/report_pb.js";
import { esc, latencyMsText } from "./format.js";

const cells = (values: unknown[]) => `<tr>${values.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`;
const head = (names: string[]) => `<thead><tr>${names.map((n) => `<th>${esc(n)}</th>`).join("")}</tr></thead>`;

/** Iterations per scenario: count, aborted, per second, duration p50/p99 (think time excluded). */
export function scenariosHtml(s: Stats | undefined): string {
  if (!s?.scenarios.length) return "";
  const rows = s.scenarios.map((c) =>
    cells([c.scenario, c.iterations, c.aborted, c.iterationsPerS.toFixed(1), latencyMsText(c.iterationDuration, "p50Us"), latencyMsText(c.iterationDuration, "p99Us")]),
  );
  return `<table id="report-scenarios">${head(["scenario", "iterations", "aborted", "it/s", "iteration p50", "iteration p99"])}<tbody>${rows.join("")}</tbody></table>`;
}

/** Per step: requests, errors, checks, captures that found nothing, iterations it aborted, latency; then each check by name. */
export function stepsHtml(s: Stats | undefined): string {
  if (!s?.steps.length) return "";
  const rows = s.steps.map((st) => {
    const passed = st.checks.reduce((n, c) => n + c.passed, 0n);
    const failed = st.checks.reduce((n, c) => n + c.failed, 0n);
    const l = st.stats?.latency;
    return cells([`${st.scenario}/${st.step}`, st.stats?.requests ?? 0n, st.stats?.errors ?? 0n, passed, failed, st.captureMissing, st.abortedIterations, latencyMsText(l, "p50Us"), latencyMsText(l, "p99Us"), latencyMsText(l, "p999Us")]);
  });
  const checks = s.steps.flatMap((st) => st.checks.map((c) => cells([`${st.scenario}/${st.step}`, c.name, c.passed, c.failed])));
  return (
    `<table id="report-steps">${head(["step", "requests", "errors", "checks passed", "checks failed", "capture missing", "aborted here", "p50", "p99", "p99.9"])}<tbody>${rows.join("")}</tbody></table>` +
    (checks.length ? `<table id="report-checks">${head(["step", "check", "passed", "failed"])}<tbody>${checks.join("")}</tbody></table>` : "")
  );
}

/** The intervals CSV's columns after the total's, for a scenario test. */
export const STEP_CSV_COLUMNS = ["iterations", "aborted", "iteration_p50_us", "iteration_p99_us", "checks_passed", "checks_failed", "capture_missing"] as const;

const sampled = (l: LatencyStats | undefined) => (l && l.count > 0n ? l : undefined);

/**
 * The rows a scenario test adds under each interval's total row, as [scenario, step, stats of the
 * request columns (undefined: empty), extra cells in {@link STEP_CSV_COLUMNS} order]: one row per
 * scenario (its iterations), one per step that counted something (its requests and checks).
 */
export function stepCsvRows(s: Stats): { scenario: string; step: string; stats: Stats | undefined; extra: unknown[] }[] {
  const scenarios = s.scenarios.map((c) => {
    const d = sampled(c.iterationDuration);
    return { scenario: c.scenario, step: "", stats: undefined, extra: [c.iterations, c.aborted, d?.p50Us ?? "", d?.p99Us ?? "", "", "", ""] };
  });
  const steps = s.steps.map((st) => ({
    scenario: st.scenario,
    step: st.step,
    stats: st.stats,
    extra: ["", st.abortedIterations, "", "", st.checks.reduce((n, c) => n + c.passed, 0n), st.checks.reduce((n, c) => n + c.failed, 0n), st.captureMissing],
  }));
  return [...scenarios, ...steps];
}
