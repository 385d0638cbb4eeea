/**
 * Formatting shared by the dashboard and the report exports (`kannon report --format …`): no DOM
 * and no Node, so it runs in both.
 */
import type { LatencyStats, Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { Verdict, type Outcome, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { isFailedStatus, percent } from "../metrics/outcome.js";
import { codeOrder, transportNumbers } from "./transport-cells.js";

/**
 * Why a test cannot be run again from its stored spec (the dashboard's "Run again": CreateTest with
 * the same spec, then StartTest), or undefined when it can: the orchestrator does not keep a data
 * file's content past its test (test.proto TestSpec.data_files), so such a spec must come from its file.
 */
export function rerunBlocker(spec: TestSpec | undefined): string | undefined {
  if (!spec) return "the test has no spec";
  if (spec.dataFiles.length > 0)
    return `its data files (${spec.dataFiles.map((f) => f.name).join(", ")}) are not kept after a test: run its spec file again (kannon test -f FILE)`;
  return undefined;
}

/** A protobuf Timestamp (or anything shaped like one). */
type Instant = { seconds: bigint; nanos: number };

/** Escapes text for HTML. */
export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** Microseconds as milliseconds. */
export const ms = (us: bigint | number | undefined) => (us === undefined ? "—" : `${(Number(us) / 1000).toFixed(2)} ms`);
/** A Timestamp as local time. */
export const when = (t: Instant | undefined) => (t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)).toLocaleString() : "—");
/** A Timestamp in milliseconds since the epoch. */
export const msAt = (t: Instant) => Number(t.seconds) * 1000 + t.nanos / 1e6;
/** A span in seconds ("3.0 s", "2 min 5 s"); "—" without both ends. */
export function duration(from: Instant | undefined, to: Instant | undefined): string {
  if (!from || !to) return "—";
  const s = Math.max(0, (msAt(to) - msAt(from)) / 1000);
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
/** How long ago an instant was, from its age in ms ("0 s ago", "5 min ago"). */
export function ago(ageMs: number): string {
  const s = Math.max(0, Math.floor(ageMs / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}
/** The workload's one name, as the docs and the CLI write it ("arrival rate"). */
export const workloadName = (spec: TestSpec | undefined): string =>
  ({ avalanche: "avalanche", tsunami: "tsunami", arrivalRate: "arrival rate", none: "" })[spec?.workload.case ?? "none"];

/**
 * True for an interval cut short by the end of the test (shorter than the report interval): its
 * few requests over a short span would read as a rate the test never held.
 */
export function isPartialInterval(i: Stats, nominalMs: number): boolean {
  const spanMs = i.start && i.end ? msAt(i.end) - msAt(i.start) : nominalMs;
  return spanMs < nominalMs * 0.95;
}

/**
 * A test's verdict (`outcome`): FAILING in red with its error rate and reasons (the error kinds,
 * in words), or PASSING; empty before it is judged.
 */
export function verdictHtml(o: Outcome | undefined): string {
  if (!o || o.verdict === Verdict.UNSPECIFIED) return "";
  if (o.verdict === Verdict.PASSING) return `<span class="verdict passing" data-verdict="passing">PASSING</span>`;
  const why = [`error rate ${percent(o.errorRate)}`, ...o.reasons].map(esc).join(" · ");
  return `<span class="verdict failing" data-verdict="failing">FAILING</span> <span class="failing-why">${why}</span>`;
}

/** The CSS classes of a test's state: its state's color, red when its outcome is failing. */
export const stateClass = (state: string, o: Outcome | undefined) => `state-${state}${o?.verdict === Verdict.FAILING ? " failing" : ""}`;

/** A run's status codes, RPC codes and error kinds as a table (`class="error-kinds"`); empty when it has none. */
export function errorKindsHtml(s: Stats | undefined): string {
  if (!s) return "";
  // RPCs are counted by code (ok included), so a failed code's error kind (rpc_CODE) is that row already.
  const rpc = Object.keys(s.codeCounts).length > 0;
  const rows = [
    ...Object.entries(s.statusCounts).map(([code, n]) => [`HTTP ${code}`, n, isFailedStatus(Number(code))] as const),
    ...codeOrder(Object.keys(s.codeCounts)).map((code) => [`RPC ${code}`, s.codeCounts[code]!, code !== "ok"] as const),
    ...Object.entries(s.errorCounts)
      .filter(([kind]) => !(rpc && kind.startsWith("rpc_")))
      .map(([kind, n]) => [kind, n, true] as const),
  ].sort((a, b) => Number(b[1] - a[1]));
  if (rows.length === 0) return "";
  return `<table class="error-kinds"><thead><tr><th>status or error</th><th>requests</th><th>share</th></tr></thead><tbody>${rows
    .map(([what, n, bad]) => `<tr${bad ? ' class="failing"' : ""}><td>${esc(what)}</td><td>${n}</td><td>${percent(s.requests > 0n ? Number(n) / Number(s.requests) : 0)}</td></tr>`)
    .join("")}</tbody></table>`;
}

/** A Timestamp as an ISO 8601 UTC string (empty without one). */
export const iso = (t: Instant | undefined) => (t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)).toISOString() : "");

/**
 * What the charts draw of one interval: when it ended in seconds since the test's start, req/s and
 * errors/s (null for a partial interval, whose few requests over a short span would plunge the
 * rate line), and latency p50/p90/p99 in ms.
 */
export interface ChartPoint {
  interval: number;
  elapsedS: number;
  partial: boolean;
  rps: number | null;
  eps: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/**
 * The chart point of an interval: `originMs` is the test's start (Test.start_at), `nominalMs` its
 * report interval (an interval without bounds ends at (index + 1) × nominalMs).
 */
export function chartPoint(s: Stats, originMs: number, nominalMs: number): ChartPoint {
  const seconds = s.start && s.end ? Math.max(1e-3, (msAt(s.end) - msAt(s.start)) / 1000) : nominalMs / 1000;
  const partial = isPartialInterval(s, nominalMs);
  // An interval without a successful request has no latency (a gap, not 0 ms).
  const latencyMs = (us: bigint | undefined) => (s.latency && s.latency.count > 0n ? Number(us ?? 0n) / 1000 : null);
  return {
    interval: s.interval,
    elapsedS: s.end && Number.isFinite(originMs) ? Math.max(0, (msAt(s.end) - originMs) / 1000) : ((s.interval + 1) * nominalMs) / 1000,
    partial,
    rps: partial ? null : s.requestsPerS,
    eps: partial ? null : Number(s.errors) / seconds,
    p50: latencyMs(s.latency?.p50Us),
    p90: latencyMs(s.latency?.p90Us),
    p99: latencyMs(s.latency?.p99Us),
  };
}

/** A chart's number as its axis and legend write it: "20,000", "1.5", "0.25". */
export const chartNumber = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 1 : 3 });

/** The charts every view draws: req/s, errors/s, latency (add a series or a chart here). */
export const CHARTS: { id: string; title: string; unit: string; series: { label: string; color: string; value: (p: ChartPoint) => number | null }[] }[] = [
  { id: "rps", title: "requests / s", unit: "req/s", series: [{ label: "req/s", color: "#1f77b4", value: (p) => p.rps }] },
  { id: "eps", title: "errors / s", unit: "errors/s", series: [{ label: "errors/s", color: "#d62728", value: (p) => p.eps }] },
  {
    id: "latency",
    title: "latency of succeeded requests (ms)",
    unit: "ms",
    series: [
      { label: "p50", color: "#2ca02c", value: (p) => p.p50 },
      { label: "p90", color: "#ff7f0e", value: (p) => p.p90 },
      { label: "p99", color: "#9467bd", value: (p) => p.p99 },
    ],
  },
];

/** A latency percentile in ms, "—" when no request is in the distribution (not a 0.00 ms never measured). */
export function latencyMsText(l: LatencyStats | undefined, key: "p50Us" | "p90Us" | "p99Us" | "p999Us" | "maxUs"): string {
  return l && l.count > 0n ? ms(l[key]) : "—";
}

/** A run's numbers as key/value cells (`<div>name<b>value</b></div>`). */
export function numbersHtml(s: Stats | undefined): string {
  if (!s) return "";
  const l = s.latency;
  return [
    ["requests", s.requests],
    ["req/s", s.requestsPerS.toFixed(1)],
    ["errors", `${s.errors} (${percent(s.requests > 0n ? Number(s.errors) / Number(s.requests) : 0)})`],
    ["p50", latencyMsText(l, "p50Us")],
    ["p90", latencyMsText(l, "p90Us")],
    ["p99", latencyMsText(l, "p99Us")],
    ["p99.9", latencyMsText(l, "p999Us")],
    ["max", latencyMsText(l, "maxUs")],
    ["dropped / late", `${s.dropped} / ${s.late}`],
    ...(s.failedLatency ? [["failed p50 / p99", `${latencyMsText(s.failedLatency, "p50Us")} / ${latencyMsText(s.failedLatency, "p99Us")}`]] : []),
    ...transportNumbers(s, latencyMsText),
  ]
    .map(([name, value]) => `<div${name === "errors" && s.errors > 0n ? ' class="failing"' : ""}>${name}<b>${value}</b></div>`)
    .join("");
}

/** The report's per-driver table (`id="report-drivers"`); the start skew column hides on a narrow screen. */
export function driversReportHtml(report: Report): string {
  const rows = report.drivers.map(
    (d) =>
      `<tr><td>${esc(d.driverId)}</td><td>${d.stats?.requests ?? 0n}</td><td>${(d.stats?.requestsPerS ?? 0).toFixed(1)}</td><td>${d.stats?.errors ?? 0n}</td>` +
      `<td>${latencyMsText(d.stats?.latency, "p50Us")}</td><td>${latencyMsText(d.stats?.latency, "p99Us")}</td><td class="hide-narrow">${ms(d.startSkewUs)}</td>` +
      `<td>${d.finished ? "finished" : "lost"}${d.message ? ` — ${esc(d.message)}` : ""}</td></tr>`,
  );
  return (
    `<table id="report-drivers"><thead><tr><th>driver</th><th>requests</th><th>req/s</th><th>errors</th><th>p50</th><th>p99</th>` +
    `<th class="hide-narrow">start skew</th><th>state</th></tr></thead><tbody>${rows.join("\n")}</tbody></table>`
  );
}

/** The style sheet of the self-contained HTML files (`kannon report --format html`, `kannon compare --format html`). */
export const REPORT_STYLE =
  "body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:960px}table{border-collapse:collapse;width:100%;font-size:13px;margin:.5rem 0}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}figure{margin:1rem 0}figcaption{font-weight:600}.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.5rem}.kv div{background:#f5f5f5;padding:.5rem;border-radius:4px}.kv b{display:block;font-size:18px}.failing,.failing td{color:#b91c1c}.verdict{font-weight:700;padding:1px 6px;border-radius:3px}.verdict.failing{background:#fee2e2}.verdict.passing{background:#dcfce7;color:#15803d}";
