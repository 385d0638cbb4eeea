/**
 * A report's exports, one copy for both their users: the dashboard's downloads and
 * `kannon report ID --format json|csv|html`. Browser-safe (no DOM, no Node): the dashboard bundles
 * it, the CLI imports it.
 */
import { toJsonString } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { ReportSchema, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { errorsLine, verdictOf } from "../metrics/outcome.js";
import { chartPoint, driversReportHtml, esc, iso, ms, numbersHtml, type ChartPoint } from "./format.js";

/** The full report as proto JSON (field names as in `proto/`, the same as the API's JSON), every field, zeros included. */
export function reportJson(report: Report): string {
  return `${toJsonString(ReportSchema, report, { prettySpaces: 2, alwaysEmitImplicit: true })}\n`;
}

/** Every merged interval of a test at full resolution (ListIntervals, page by page). */
export async function allIntervals(client: Client<typeof OrchestratorService>, testId: string): Promise<Stats[]> {
  const all: Stats[] = [];
  let pageToken = "";
  do {
    const page = await client.listIntervals({ testId, pageSize: 10_000, pageToken });
    all.push(...page.intervals);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
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
  "failed_p50_us",
  "failed_p99_us",
] as const;

/** One CSV row per interval, with a header; pass every interval ({@link allIntervals}), not the report's downsampled series. */
export function intervalsCsv(intervals: Iterable<Stats>): string {
  const rows = [CSV_COLUMNS.join(",")];
  for (const s of intervals) {
    // An interval without a sample of a kind (every request failed, say) leaves its cells empty.
    const sampled = (x: Stats["latency"]) => (x && x.count > 0n ? x : undefined);
    const l = sampled(s.latency);
    const st = sampled(s.serviceTime);
    const f = sampled(s.failedLatency);
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
        f?.p50Us ?? "",
        f?.p99Us ?? "",
      ].join(","),
    );
  }
  return `${rows.join("\n")}\n`;
}

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
 * The verdict beside the state: a red FAILING with its reasons, else the errors line if any; then
 * the failed requests' time to fail, which the latency numbers leave out.
 */
function verdictHtml(report: Report): string {
  const v = verdictOf(report);
  const errors = errorsLine(report.total!);
  const failed = report.total?.failedLatency;
  const timeToFail = failed && failed.count > 0n ? ` · failed requests' time to fail: p50 ${ms(failed.p50Us)}, p99 ${ms(failed.p99Us)}` : "";
  if (v.failing) return ` <strong class="failing" style="color:#d62728">FAILING</strong> — ${esc(v.reasons.join("; "))}${timeToFail}`;
  return (errors ? ` · ${esc(errors)}` : "") + timeToFail;
}

/**
 * One self-contained HTML file (no script, no network): the final numbers, req/s, errors/s and
 * latency p50/p90/p99 per interval as inline SVG charts (the dashboard's charts, drawn the same
 * way), the per-driver table, and the interval data itself in a JSON block
 * (`<script type="application/json" id="kannon-intervals">`).
 */
export function reportHtml(report: Report, intervals: Stats[]): string {
  const points = intervals.map(chartPoint);
  const xs = points.map((p) => p.interval);
  const ys = (k: keyof ChartPoint) => points.map((p) => p[k]);
  const charts = [
    svgChart("requests per second", xs, [{ name: "req/s", color: "#1f77b4", ys: ys("rps") }], "req/s"),
    svgChart("errors per second", xs, [{ name: "errors/s", color: "#d62728", ys: ys("eps") }], "errors/s"),
    svgChart(
      "latency per interval",
      xs,
      [
        { name: "p50", color: "#2ca02c", ys: ys("p50") },
        { name: "p90", color: "#ff7f0e", ys: ys("p90") },
        { name: "p99", color: "#9467bd", ys: ys("p99") },
      ],
      "ms",
    ),
  ].join("\n");
  const data = JSON.stringify(
    intervals.map((s) => ({ interval: s.interval, requests: Number(s.requests), requestsPerS: s.requestsPerS, errors: Number(s.errors), p50Us: Number(s.latency?.p50Us ?? 0n), p90Us: Number(s.latency?.p90Us ?? 0n), p99Us: Number(s.latency?.p99Us ?? 0n) })),
  ).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kannon report ${esc(report.testId)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:960px}table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}figure{margin:1rem 0}figcaption{font-weight:600}.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.5rem}.kv div{background:#f5f5f5;padding:.5rem;border-radius:4px}.kv b{display:block;font-size:18px}</style>
</head><body>
<h1>Kannon report</h1>
<p>Test <code>${esc(report.testId)}</code>: <strong>${esc(TestState[report.state] ?? "")}</strong>${report.partial ? " (partial)" : ""}${verdictHtml(report)}${report.message ? ` — ${esc(report.message)}` : ""}<br>
${esc(report.spec?.targetUrl ?? "")} · ${esc(report.spec?.workload.case ?? "")} · ${report.drivers.length} driver(s) · ${iso(report.startAt)}</p>
<div class="kv">
${numbersHtml(report.total)}
</div>
${charts}
<h2>Drivers</h2>
${driversReportHtml(report)}
<script type="application/json" id="kannon-intervals">${data}</script>
</body></html>
`;
}
