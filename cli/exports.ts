import { toJsonString } from "@bufbuild/protobuf";
import { ReportSchema, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";

/** The full report as proto JSON (field names as in `proto/`, the same as the API's JSON), every field, zeros included. */
export function reportJson(report: Report): string {
  return `${toJsonString(ReportSchema, report, { prettySpaces: 2, alwaysEmitImplicit: true })}\n`;
}

const CSV_COLUMNS = [
  "interval",
  "start",
  "end",
  "requests",
  "requests_per_s",
  "errors",
  "dropped",
  "late",
  "bytes_received",
  "p50_us",
  "p90_us",
  "p95_us",
  "p99_us",
  "p999_us",
  "max_us",
  "mean_us",
  "service_p50_us",
  "service_p99_us",
] as const;

const iso = (t: Stats["start"]) => (t ? new Date(msOf(t)).toISOString() : "");

/** One CSV row per interval, with a header; `intervals` at full resolution (ListIntervals). */
export function intervalsCsv(intervals: Iterable<Stats>): string {
  const rows = [CSV_COLUMNS.join(",")];
  for (const s of intervals) {
    const l = s.latency;
    const st = s.serviceTime;
    rows.push(
      [
        s.interval,
        iso(s.start),
        iso(s.end),
        s.requests,
        s.requestsPerS.toFixed(3),
        s.errors,
        s.dropped,
        s.late,
        s.bytesReceived,
        l?.p50Us ?? "",
        l?.p90Us ?? "",
        l?.p95Us ?? "",
        l?.p99Us ?? "",
        l?.p999Us ?? "",
        l?.maxUs ?? "",
        l ? l.meanUs.toFixed(1) : "",
        st?.p50Us ?? "",
        st?.p99Us ?? "",
      ].join(","),
    );
  }
  return `${rows.join("\n")}\n`;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const msText = (us: bigint | number | undefined) => (us === undefined ? "—" : `${(Number(us) / 1000).toFixed(2)} ms`);

/** An inline SVG line chart of one or more series over the same x (no script, no network). */
function svgChart(title: string, xs: number[], series: { name: string; color: string; ys: number[] }[], unit: string): string {
  const w = 720;
  const h = 220;
  const pad = { l: 56, r: 12, t: 24, b: 28 };
  const maxY = Math.max(1e-9, ...series.flatMap((s) => s.ys));
  const maxX = Math.max(1, ...xs);
  const x = (v: number) => pad.l + (v / maxX) * (w - pad.l - pad.r);
  const y = (v: number) => h - pad.b - (v / maxY) * (h - pad.t - pad.b);
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.ys.map((v, i) => `${x(xs[i]!).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"><title>${esc(s.name)}</title></polyline>`)
    .join("");
  const legend = series.map((s, i) => `<text x="${pad.l + 8 + i * 110}" y="16" fill="${s.color}" font-size="12">${esc(s.name)}</text>`).join("");
  return (
    `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(title)}">` +
    `<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#999"/><line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#999"/>` +
    `<text x="4" y="${pad.t + 4}" font-size="11">${esc(maxY.toPrecision(3))} ${esc(unit)}</text><text x="4" y="${h - pad.b}" font-size="11">0</text>` +
    `<text x="${w - pad.r - 60}" y="${h - 6}" font-size="11">interval ${maxX}</text>${legend}${lines}</svg></figure>`
  );
}

/**
 * One self-contained HTML file (no script, no network): the final numbers, req/s, errors/s and
 * latency p50/p90/p99 per interval as inline SVG charts, the per-driver table, and the interval
 * data itself in a JSON block (`<script type="application/json" id="kannon-intervals">`).
 */
export function reportHtml(report: Report, intervals: Stats[]): string {
  const t = report.total!;
  const xs = intervals.map((s) => s.interval);
  const seconds = (s: Stats) => (s.start && s.end ? Math.max(1e-3, (msOf(s.end) - msOf(s.start)) / 1000) : 1);
  const charts = [
    svgChart("requests per second", xs, [{ name: "req/s", color: "#1f77b4", ys: intervals.map((s) => s.requestsPerS) }], "req/s"),
    svgChart("errors per second", xs, [{ name: "errors/s", color: "#d62728", ys: intervals.map((s) => Number(s.errors) / seconds(s)) }], "errors/s"),
    svgChart(
      "latency per interval",
      xs,
      [
        { name: "p50", color: "#2ca02c", ys: intervals.map((s) => Number(s.latency?.p50Us ?? 0n) / 1000) },
        { name: "p90", color: "#ff7f0e", ys: intervals.map((s) => Number(s.latency?.p90Us ?? 0n) / 1000) },
        { name: "p99", color: "#9467bd", ys: intervals.map((s) => Number(s.latency?.p99Us ?? 0n) / 1000) },
      ],
      "ms",
    ),
  ].join("\n");
  const drivers = report.drivers
    .map(
      (d) =>
        `<tr><td>${esc(d.driverId)}</td><td>${d.stats?.requests ?? 0n}</td><td>${(d.stats?.requestsPerS ?? 0).toFixed(1)}</td><td>${d.stats?.errors ?? 0n}</td>` +
        `<td>${msText(d.stats?.latency?.p50Us)}</td><td>${msText(d.stats?.latency?.p99Us)}</td><td>${msText(d.startSkewUs)}</td>` +
        `<td>${d.finished ? "finished" : "lost"}</td><td>${esc(d.message)}</td></tr>`,
    )
    .join("\n");
  const data = JSON.stringify(
    intervals.map((s) => ({ interval: s.interval, requests: Number(s.requests), requestsPerS: s.requestsPerS, errors: Number(s.errors), p50Us: Number(s.latency?.p50Us ?? 0n), p90Us: Number(s.latency?.p90Us ?? 0n), p99Us: Number(s.latency?.p99Us ?? 0n) })),
  ).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kannon report ${esc(report.testId)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:960px}table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}figure{margin:1rem 0}figcaption{font-weight:600}.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.5rem}.kv div{background:#f5f5f5;padding:.5rem;border-radius:4px}.kv b{display:block;font-size:18px}</style>
</head><body>
<h1>Kannon report</h1>
<p>Test <code>${esc(report.testId)}</code>: <strong>${esc(TestState[report.state] ?? "")}</strong>${report.partial ? " (partial)" : ""}${report.message ? ` — ${esc(report.message)}` : ""}<br>
${esc(report.spec?.targetUrl ?? "")} · ${esc(report.spec?.workload.case ?? "")} · ${report.drivers.length} driver(s) · ${report.startAt ? new Date(msOf(report.startAt)).toISOString() : ""}</p>
<div class="kv">
<div>requests<b>${t.requests}</b></div><div>req/s<b>${t.requestsPerS.toFixed(1)}</b></div><div>errors<b>${t.errors}</b></div>
<div>p50<b>${msText(t.latency?.p50Us)}</b></div><div>p90<b>${msText(t.latency?.p90Us)}</b></div><div>p99<b>${msText(t.latency?.p99Us)}</b></div>
<div>p99.9<b>${msText(t.latency?.p999Us)}</b></div><div>max<b>${msText(t.latency?.maxUs)}</b></div><div>dropped / late<b>${t.dropped} / ${t.late}</b></div>
</div>
${charts}
<h2>Drivers</h2>
<table><thead><tr><th>driver</th><th>requests</th><th>req/s</th><th>errors</th><th>p50</th><th>p99</th><th>start skew</th><th>state</th><th>message</th></tr></thead><tbody>
${drivers}
</tbody></table>
<script type="application/json" id="kannon-intervals">${data}</script>
</body></html>
`;
}
