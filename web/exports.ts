/**
 * A report's exports, one copy for both their users: the dashboard's downloads and
 * `kannon report ID --format json|csv|html`. Browser-safe (no DOM, no Node): the dashboard bundles
 * it, the CLI imports it.
 */
import { toJson, toJsonString } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { ReportSchema, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestSpecSchema, TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import { DEFAULT_MAX_ERROR_RATE, judgeOutcome, percent } from "../metrics/outcome.js";
import { formatValue } from "../metrics/thresholds.js";
import { CHARTS, chartPoint, REPORT_STYLE, driversReportHtml, duration, errorKindsHtml, esc, iso, msAt, numbersHtml, verdictHtml, workloadName } from "./format.js";
import { scenariosHtml, STEP_CSV_COLUMNS, stepCsvRows, stepsHtml } from "./step-tables.js";
import { lineChart, percentileChart } from "./svg-chart.js";
import { transportColumns } from "./transport-cells.js";

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

/**
 * One CSV row per interval, with a header; pass every interval ({@link allIntervals}), not the
 * report's downsampled series. RPC, HTTP/2, TLS and stream columns follow the request columns
 * when the test has such numbers (see transportColumns). A scenario test's CSV has two more columns after `interval`,
 * `scenario` and `step` (both empty on the interval's total row), and {@link STEP_CSV_COLUMNS} at
 * the end; under each total row come a row per scenario (`step` empty: its iterations, aborted,
 * iteration p50/p99) and a row per step that counted something (the request columns for that
 * step, its checks, capture_missing, and in `aborted` the iterations it ended).
 */
export function intervalsCsv(intervals: Iterable<Stats>): string {
  const all = [...intervals];
  const scenario = all.some((s) => s.steps.length > 0 || s.scenarios.length > 0);
  const transport = transportColumns(all);
  const [first, ...rest] = [...CSV_COLUMNS, ...transport.header];
  const cells = (s: Stats, outer: Stats = s) => [...statsCells(s, outer), ...transport.cells(s)];
  const rows = [(scenario ? [first, "scenario", "step", ...rest, ...STEP_CSV_COLUMNS] : [first, ...rest]).join(",")];
  for (const s of all) {
    if (!scenario) {
      rows.push([s.interval, ...cells(s)].join(","));
      continue;
    }
    rows.push([s.interval, "", "", ...cells(s), ...STEP_CSV_COLUMNS.map(() => "")].join(","));
    for (const r of stepCsvRows(s)) rows.push([s.interval, csvText(r.scenario), csvText(r.step), ...(r.stats ? cells(r.stats, s) : rest.map(() => "")), ...r.extra].join(","));
  }
  return `${rows.join("\n")}\n`;
}

/** A text cell of the CSV, quoted when it holds a comma, a quote or a line break (RFC 4180). */
const csvText = (t: string) => (/[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t);

/** The cells of CSV_COLUMNS after `interval`; a step's stats take start and end from `outer`. */
function statsCells(s: Stats, outer: Stats = s): unknown[] {
  // An interval without a sample of a kind (every request failed, say) leaves its cells empty.
  const sampled = (x: Stats["latency"]) => (x && x.count > 0n ? x : undefined);
  const l = sampled(s.latency);
  const st = sampled(s.serviceTime);
  const f = sampled(s.failedLatency);
  return [
    iso(outer.start),
    iso(outer.end),
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
  ];
}

const row = (cells: unknown[], cls = "") => `<tr${cls ? ` class="${cls}"` : ""}>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;

/** The spec as a readable key/value table (proto JSON names, zeros left out: their defaults apply). */
function specHtml(report: Report): string {
  if (!report.spec) return "";
  const json = toJson(TestSpecSchema, report.spec) as Record<string, unknown>;
  const rows = Object.entries(json).map(([k, v]) => row([k, typeof v === "object" ? JSON.stringify(v) : v]));
  return `<table id="spec"><tbody>${rows.join("")}</tbody></table>`;
}

/** The report's outcome, judged here for a report stored before outcomes were. */
const outcomeOf = (r: Report) => (r.outcome?.verdict ? r.outcome : judgeOutcome(r.total, r.spec, r.state, r.message));

/** The error rate's rule and the spec's thresholds (as the orchestrator judged them), each passed or failed. */
function thresholdsHtml(report: Report): string {
  const o = outcomeOf(report);
  const max = report.spec?.maxErrorRate || DEFAULT_MAX_ERROR_RATE;
  const rows = [
    row([`error rate ≤ ${percent(max)}`, o ? percent(o.errorRate) : "—", o?.verdict === Verdict.FAILING ? "failed" : o?.verdict === Verdict.PASSING ? "passed" : "not judged"], o?.verdict === Verdict.FAILING ? "failing" : ""),
    ...(report.outcome?.thresholds ?? []).map((t) =>
      row(
        [t.threshold, `${formatValue(t.unit, t.measured)}${t.windowMs > 0 ? ` (window ${Number(t.windowFromMs) / 1000}–${Number(t.windowToMs) / 1000} s)` : ""}`, t.passed ? "passed" : "failed"],
        t.passed ? "" : "failing",
      ),
    ),
  ];
  return `<table id="thresholds"><thead><tr><th>threshold</th><th>measured</th><th>verdict</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** What the HTML report can add to the report itself. */
export interface ReportHtmlOptions {
  /**
   * [percentile, ms] of the total latency, from its histogram (metrics/histogram.ts's
   * percentileDistribution, Node only); without it the plot uses the report's p50 … p99.9.
   */
  distribution?: [number, number][];
}

/**
 * One self-contained HTML file (no script, no network): the test's name, verdict, spec and
 * thresholds, the final numbers, status codes and error kinds, req/s, errors/s and latency
 * p50/p90/p99 over the elapsed time and the latency percentile distribution as inline SVG charts
 * (ticked axes), a scenario test's per-scenario and per-step tables (with each check's passes and
 * fails), the per-driver table, and the interval data itself in a JSON block
 * (`<script type="application/json" id="kannon-intervals">`).
 */
export function reportHtml(report: Report, intervals: Stats[], options: ReportHtmlOptions = {}): string {
  const origin = report.startAt ? msAt(report.startAt) : Number.NaN;
  const nominal = report.spec?.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
  const points = intervals.map((s) => chartPoint(s, origin, nominal));
  const xs = points.map((p) => p.elapsedS);
  const charts = CHARTS.map((c) => lineChart(c.title, xs, c.series.map((s) => ({ name: s.label, color: s.color, ys: points.map(s.value) })), c.unit));
  const l = report.total?.latency;
  const pct = (p: number, us: bigint | undefined): [number, number] => [p, Number(us ?? 0n) / 1000];
  const percentiles = options.distribution?.length ? options.distribution : [pct(50, l?.p50Us), pct(90, l?.p90Us), pct(95, l?.p95Us), pct(99, l?.p99Us), pct(99.9, l?.p999Us)];
  const distribution = l && l.count > 0n ? percentileChart("latency by percentile (succeeded requests)", percentiles, Number(l.maxUs) / 1000) : "";
  const partial = points.some((p) => p.partial) ? "<p>The last interval is partial (cut short by the end): it is left out of the rate lines.</p>" : "";
  const data = JSON.stringify(
    intervals.map((s) => ({ interval: s.interval, requests: Number(s.requests), requestsPerS: s.requestsPerS, errors: Number(s.errors), p50Us: Number(s.latency?.p50Us ?? 0n), p90Us: Number(s.latency?.p90Us ?? 0n), p99Us: Number(s.latency?.p99Us ?? 0n) })),
  ).replace(/</g, "\\u003c");
  const name = report.spec?.name || report.testId;
  const t = report.total;
  const perStep = (t?.scenarios.length ? `<h2>Scenarios</h2>\n${scenariosHtml(t)}\n` : "") + (t?.steps.length ? `<h2>Steps</h2>\n${stepsHtml(t)}\n` : "");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kannon report: ${esc(name)}</title>
<style>${REPORT_STYLE}</style>
</head><body>
<h1>Kannon report: ${esc(name)}</h1>
<p>Test <code>${esc(report.testId)}</code>: <strong>${esc(TestState[report.state] ?? "")}</strong>${report.partial ? " (partial)" : ""}${report.message ? ` — ${esc(report.message)}` : ""}</p>
<p id="verdict">${verdictHtml(outcomeOf(report))}</p>${report.spec?.http?.tls?.insecure ? '\n<p id="insecure">TLS verification off (insecure): the target\'s certificate was not verified.</p>' : ""}
<p>${esc(report.spec?.method || "GET")} ${esc(report.spec?.targetUrl ?? "")} · ${esc(workloadName(report.spec))} · ${report.drivers.length} driver${report.drivers.length === 1 ? "" : "s"} · started ${iso(report.startAt)} · ran ${duration(report.startAt, report.endedAt)}</p>
<div class="kv">
${numbersHtml(report.total)}
</div>
<h2>Thresholds</h2>
${thresholdsHtml(report)}
${perStep}<h2>Status codes and errors</h2>
${errorKindsHtml(report.total) || "<p>No response at all.</p>"}
${charts.join("\n")}
${partial}
${distribution}
<h2>Drivers</h2>
${driversReportHtml(report)}
<h2>Spec</h2>
${specHtml(report)}
<script type="application/json" id="kannon-intervals">${data}</script>
</body></html>
`;
}
