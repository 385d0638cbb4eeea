/**
 * Formatting shared by the dashboard and the report exports (`kannon report --format …`): no DOM
 * and no Node, so it runs in both.
 */
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";

/** A protobuf Timestamp (or anything shaped like one). */
type Instant = { seconds: bigint; nanos: number };

/** Escapes text for HTML. */
export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** Microseconds as milliseconds. */
export const ms = (us: bigint | number | undefined) => (us === undefined ? "—" : `${(Number(us) / 1000).toFixed(2)} ms`);
/** A Timestamp as local time. */
export const when = (t: Instant | undefined) => (t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)).toLocaleString() : "—");
/** A Timestamp as an ISO 8601 UTC string (empty without one). */
export const iso = (t: Instant | undefined) => (t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)).toISOString() : "");

/** What the charts draw of one interval: req/s, errors/s and latency p50/p90/p99 in ms. */
export interface ChartPoint {
  interval: number;
  rps: number;
  eps: number;
  p50: number;
  p90: number;
  p99: number;
}

/** The chart point of an interval (an interval without bounds counts as one second). */
export function chartPoint(s: Stats): ChartPoint {
  const seconds = s.start && s.end ? Math.max(1e-3, Number(s.end.seconds - s.start.seconds) + (s.end.nanos - s.start.nanos) / 1e9) : 1;
  const latencyMs = (us: bigint | undefined) => Number(us ?? 0n) / 1000;
  return {
    interval: s.interval,
    rps: s.requestsPerS,
    eps: Number(s.errors) / seconds,
    p50: latencyMs(s.latency?.p50Us),
    p90: latencyMs(s.latency?.p90Us),
    p99: latencyMs(s.latency?.p99Us),
  };
}

/** A run's numbers as key/value cells (`<div>name<b>value</b></div>`). */
export function numbersHtml(s: Stats | undefined): string {
  if (!s) return "";
  const l = s.latency;
  return [
    ["requests", s.requests],
    ["req/s", s.requestsPerS.toFixed(1)],
    ["errors", s.errors],
    ["p50", ms(l?.p50Us)],
    ["p90", ms(l?.p90Us)],
    ["p99", ms(l?.p99Us)],
    ["p99.9", ms(l?.p999Us)],
    ["max", ms(l?.maxUs)],
    ["dropped / late", `${s.dropped} / ${s.late}`],
  ]
    .map(([name, value]) => `<div>${name}<b>${value}</b></div>`)
    .join("");
}

/** The report's per-driver table (`id="report-drivers"`); the start skew column hides on a narrow screen. */
export function driversReportHtml(report: Report): string {
  const rows = report.drivers.map(
    (d) =>
      `<tr><td>${esc(d.driverId)}</td><td>${d.stats?.requests ?? 0n}</td><td>${(d.stats?.requestsPerS ?? 0).toFixed(1)}</td><td>${d.stats?.errors ?? 0n}</td>` +
      `<td>${ms(d.stats?.latency?.p50Us)}</td><td>${ms(d.stats?.latency?.p99Us)}</td><td class="hide-narrow">${ms(d.startSkewUs)}</td>` +
      `<td>${d.finished ? "finished" : "lost"}${d.message ? ` — ${esc(d.message)}` : ""}</td></tr>`,
  );
  return (
    `<table id="report-drivers"><thead><tr><th>driver</th><th>requests</th><th>req/s</th><th>errors</th><th>p50</th><th>p99</th>` +
    `<th class="hide-narrow">start skew</th><th>state</th></tr></thead><tbody>${rows.join("\n")}</tbody></table>`
  );
}
