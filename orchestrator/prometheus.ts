import { Counter, Gauge, Registry } from "prom-client";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { swallowedCounts } from "../metrics/swallowed.js";
import { RPC_CODES } from "../rpc/codes.js";
import type { Orchestrator } from "./orchestrator.js";
import { registerStepMetrics } from "./prometheus-steps.js";

/** The code label's values: Connect's codes, bounded whatever a driver sends. */
const CODES: ReadonlySet<string> = new Set(RPC_CODES);

/** A run's RPCs by code label: Connect's codes, anything else summed under `other` (bounded cardinality). */
export function callsByCode(s: Pick<Stats, "codeCounts">): Map<string, number> {
  const codes = new Map<string, number>();
  for (const [code, n] of Object.entries(s.codeCounts)) {
    const c = CODES.has(code) ? code : "other";
    codes.set(c, (codes.get(c) ?? 0) + Number(n));
  }
  return codes;
}

/** The label value of an enum state: `DRIVER_STATE_READY` → `ready`. */
const label = (name: string | undefined) => (name ?? "unspecified").toLowerCase();

/**
 * The orchestrator's Prometheus metrics, read at each scrape: drivers and tests by state; for
 * each running test (label `test_id`) its requests and errors by kind so far, and its last
 * interval's req/s and latency quantiles, its RPCs by code (label `code`, Connect's 17 codes), and for a scenario test the same per step (labels
 * `scenario`, `step`; bounded: prometheus-steps.ts); the orchestrator's own ingest counters; and the errors
 * this process handled and went on, by place (`kannon_errors_swallowed_total{where}`).
 */
export function createPrometheusRegistry(o: Orchestrator): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  new Gauge({
    name: "kannon_drivers",
    help: "Drivers the orchestrator knows, by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const s of [DriverState.READY, DriverState.BUSY, DriverState.MISSING, DriverState.LEFT]) counts.set(label(DriverState[s]), 0);
      for (const d of o.fleet.list())
        counts.set(label(DriverState[d.state]), (counts.get(label(DriverState[d.state])) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "kannon_tests",
    help: "Stored tests, by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      const counts = o.testsByState();
      for (const s of [TestState.CREATED, TestState.STARTING, TestState.RUNNING, TestState.COMPLETED, TestState.CANCELLED, TestState.FAILED])
        this.set({ state: label(TestState[s]) }, counts.get(s) ?? 0);
    },
  });
  const running = () => o.runningTests();
  new Counter({
    name: "kannon_test_requests_total",
    help: "Requests completed so far by a running test's fleet.",
    labelNames: ["test_id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running()) this.inc({ test_id: live.test.id }, Number(live.cumulativeStats().requests));
    },
  });
  new Counter({
    name: "kannon_test_errors_total",
    help: "Failed requests so far in a running test, by kind (transport error kinds, and http_4xx / http_5xx).",
    labelNames: ["test_id", "kind"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running()) {
        const s = live.cumulativeStats();
        const kinds = new Map<string, number>(Object.entries(s.errorCounts).map(([k, v]) => [k, Number(v)]));
        for (const [code, v] of Object.entries(s.statusCounts)) {
          const c = Number(code);
          if (c >= 400) kinds.set(`http_${Math.floor(c / 100)}xx`, (kinds.get(`http_${Math.floor(c / 100)}xx`) ?? 0) + Number(v));
        }
        for (const [kind, n] of kinds) this.inc({ test_id: live.test.id, kind }, n);
      }
    },
  });
  new Counter({
    name: "kannon_test_calls_total",
    help: "RPCs completed so far in a running test, by code (ok, unavailable, ...; a name that is not a Connect code counts as `other`).",
    labelNames: ["test_id", "code"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running()) for (const [code, n] of callsByCode(live.cumulativeStats())) this.inc({ test_id: live.test.id, code }, n);
    },
  });
  new Gauge({
    name: "kannon_test_requests_per_second",
    help: "Requests per second of a running test's last merged interval.",
    labelNames: ["test_id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running()) if (live.lastInterval) this.set({ test_id: live.test.id }, live.lastInterval.requestsPerS);
    },
  });
  new Gauge({
    name: "kannon_test_latency_seconds",
    help: "Latency quantiles of a running test's last merged interval (exact merge of the fleet's histograms).",
    labelNames: ["test_id", "quantile"],
    registers: [registry],
    collect() {
      this.reset();
      for (const live of running()) {
        const l = live.lastInterval?.latency;
        if (!l || l.count === 0n) continue;
        for (const [q, us] of [["0.5", l.p50Us], ["0.9", l.p90Us], ["0.99", l.p99Us], ["0.999", l.p999Us]] as const)
          this.set({ test_id: live.test.id, quantile: q }, Number(us) / 1e6);
      }
    },
  });
  registerStepMetrics(registry, running);
  counter("kannon_metrics_applied_total", "Driver intervals applied.", () => o.stats.metricsApplied);
  counter("kannon_metrics_duplicate_total", "Driver intervals received again and skipped (idempotent apply).", () => o.stats.metricsDuplicate);
  counter("kannon_metrics_ignored_total", "Driver intervals for no running test, or not plausible.", () => o.stats.metricsIgnored);
  counter("kannon_metrics_invalid_total", "Driver intervals whose histograms did not decode.", () => o.stats.metricsInvalid);
  counter("kannon_metrics_batches_total", "Metrics batches stored (one LMDB transaction each).", () => o.stats.batches);
  counter("kannon_heartbeats_total", "Driver heartbeats received.", () => o.stats.heartbeats);
  counter("kannon_driver_messages_invalid_total", "Registrations and heartbeats skipped for a field out of bounds (driver, test or instance id).", () => o.fleet.invalid);
  counter("kannon_drivers_refused_full_total", "Registrations and heartbeats of new drivers refused because the fleet is at its bound.", () => o.fleet.overflow);
  counter("kannon_bus_stalls_total", "Times the data plane became unreachable.", () => o.stats.busStalls);
  new Counter({
    name: "kannon_errors_swallowed_total",
    help: "Errors this process logged and went on from (a failed best-effort publish, a retried write, a skipped record), by place.",
    labelNames: ["where"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [where, n] of swallowedCounts()) this.inc({ where }, n);
    },
  });
  return registry;
}
