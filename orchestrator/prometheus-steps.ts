import { Counter, Gauge, type Registry } from "prom-client";
import type { Stats, StepStats } from "../gen/kannon/v1/report_pb.js";
import type { LiveTest } from "./live-test.js";

/**
 * The steps of a test exported by name to Prometheus: those of step index 0 to 49 (the first 50
 * in the spec's order, so a series keeps its identity from one scrape to the next). A test may
 * have up to MAX_STEPS (orchestrator/validate.ts, 256): the counts of the steps past these are
 * summed under `scenario="_other", step="_other"` (no latency quantiles: quantiles do not add),
 * and `kannon_test_steps_folded{test_id}` says how many they are. A running test thus adds at most
 * 51 label sets per per-step family.
 */
export const MAX_PROMETHEUS_STEPS = 50;

/** The label value of the steps past {@link MAX_PROMETHEUS_STEPS}. */
export const OTHER_STEPS = "_other";

type Labels = { test_id: string; scenario: string; step: string };

/**
 * Each step's counts in `s`, labelled by test, scenario and step: the first
 * {@link MAX_PROMETHEUS_STEPS} by name, the rest summed under {@link OTHER_STEPS} (returned only when
 * there are some), and how many were summed.
 */
export function stepRows(testId: string, s: Stats): { rows: { labels: Labels; requests: number; errors: number; passed: number; failed: number }[]; folded: number } {
  const row = (labels: Labels, st: StepStats) => ({
    labels,
    requests: Number(st.stats?.requests ?? 0n),
    errors: Number(st.stats?.errors ?? 0n),
    passed: st.checks.reduce((n, c) => n + Number(c.passed), 0),
    failed: st.checks.reduce((n, c) => n + Number(c.failed), 0),
  });
  const named = s.steps.filter((st) => st.stepIndex < MAX_PROMETHEUS_STEPS).map((st) => row({ test_id: testId, scenario: st.scenario, step: st.step }, st));
  const past = s.steps.filter((st) => st.stepIndex >= MAX_PROMETHEUS_STEPS);
  if (past.length === 0) return { rows: named, folded: 0 };
  const other = { labels: { test_id: testId, scenario: OTHER_STEPS, step: OTHER_STEPS }, requests: 0, errors: 0, passed: 0, failed: 0 };
  for (const st of past) {
    const r = row(other.labels, st);
    other.requests += r.requests;
    other.errors += r.errors;
    other.passed += r.passed;
    other.failed += r.failed;
  }
  return { rows: [...named, other], folded: past.length };
}

/**
 * Registers the per-step families of the running tests of a scenario test (a single-request test
 * has none): requests, errors and check outcomes so far, and the last merged interval's latency
 * quantiles, labelled `test_id`, `scenario`, `step`; bounded as {@link MAX_PROMETHEUS_STEPS} says.
 */
export function registerStepMetrics(registry: Registry, running: () => LiveTest[]): void {
  const soFar = () => running().map((live) => ({ id: live.test.id, ...stepRows(live.test.id, live.cumulativeStats()) }));
  const counter = (name: string, help: string, extra: string[], emit: (c: Counter, r: ReturnType<typeof stepRows>["rows"][number]) => void) =>
    new Counter({
      name,
      help,
      labelNames: ["test_id", "scenario", "step", ...extra],
      registers: [registry],
      collect() {
        this.reset();
        for (const t of soFar()) for (const r of t.rows) emit(this, r);
      },
    });
  counter("kannon_test_step_requests_total", "Requests of each step of a running scenario test so far (steps past the first 50 summed under step=\"_other\").", [], (c, r) =>
    c.inc(r.labels, r.requests),
  );
  counter("kannon_test_step_errors_total", "Failed requests of each step of a running scenario test so far (transport errors and HTTP 4xx/5xx).", [], (c, r) =>
    c.inc(r.labels, r.errors),
  );
  counter("kannon_test_step_checks_total", "Check outcomes of each step of a running scenario test so far, by result (passed, failed), all its checks together.", ["result"], (c, r) => {
    c.inc({ ...r.labels, result: "passed" }, r.passed);
    c.inc({ ...r.labels, result: "failed" }, r.failed);
  });
  new Gauge({
    name: "kannon_test_step_latency_seconds",
    help: "Latency quantiles of each step (the first 50) in a running scenario test's last merged interval (exact merge of the fleet's histograms).",
    labelNames: ["test_id", "scenario", "step", "quantile"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running())
        for (const st of live.lastInterval?.steps ?? []) {
          const l = st.stats?.latency;
          if (st.stepIndex >= MAX_PROMETHEUS_STEPS || !l || l.count === 0n) continue;
          for (const [q, us] of [["0.5", l.p50Us], ["0.9", l.p90Us], ["0.99", l.p99Us], ["0.999", l.p999Us]] as const)
            this.set({ test_id: live.test.id, scenario: st.scenario, step: st.step, quantile: q }, Number(us) / 1e6);
        }
    },
  });
  new Gauge({
    name: "kannon_test_steps_folded",
    help: "Steps of a running scenario test past the first 50, whose counts are summed under step=\"_other\" (0 when every step is exported by name).",
    labelNames: ["test_id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of soFar()) if (t.rows.length > 0) this.set({ test_id: t.id }, t.folded);
    },
  });
}
