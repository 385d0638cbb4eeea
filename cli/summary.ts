import type { LatencyStats, Report, ScenarioStats, Stats, StepStats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { errorsLine, verdictOf } from "../metrics/outcome.js";
import { msOf } from "../metrics/stats.js";
import { codeOrder, notOnlyHttp11 } from "../web/transport-cells.js";

const ms = (us: bigint | number) => `${(Number(us) / 1000).toFixed(2)} ms`;

function latencyLine(name: string, l: LatencyStats | undefined): string {
  if (!l || l.count === 0n) return `  ${name}: no samples`;
  return `  ${name}: p50 ${ms(l.p50Us)}  p90 ${ms(l.p90Us)}  p99 ${ms(l.p99Us)}  p99.9 ${ms(l.p999Us)}  max ${ms(l.maxUs)}  (min ${ms(l.minUs)}, mean ${ms(l.meanUs)} ± ${ms(l.stdevUs)})`;
}

function countsLine(s: Stats): string {
  const status = Object.entries(s.statusCounts).map(([k, v]) => `${k}×${v}`).join(" ");
  const errors = Object.entries(s.errorCounts).map(([k, v]) => `${k}×${v}`).join(" ");
  return `  status: ${status || "none"}${errors ? `   errors: ${errors}` : ""}`;
}


/** RPC codes as `ok×95 unavailable×5`, in Connect's order. */
function codesText(s: Pick<Stats, "codeCounts">): string {
  return codeOrder(Object.keys(s.codeCounts))
    .map((c) => `${c}×${s.codeCounts[c]}`)
    .join(" ");
}

/**
 * What HTTP/1.1 tests do not have: RPC codes (in Connect's order), the protocols
 * when not only HTTP/1.1, TLS handshakes, server streams' first message and messages, and whether
 * TLS verification was off.
 */
function transportLines(t: Stats, spec: TestSpec | undefined): string[] {
  const lines: string[] = [];
  if (Object.keys(t.codeCounts).length > 0) lines.push(`  codes: ${codesText(t)}`);
  if (notOnlyHttp11(t)) lines.push(`  protocols: ${Object.entries(t.protocolCounts).map(([k, v]) => `${k}×${v}`).join(" ")}`);
  if (t.handshake && t.handshake.count > 0n) lines.push(`  TLS handshakes: ${t.handshake.count}   p50 ${ms(t.handshake.p50Us)}  p99 ${ms(t.handshake.p99Us)}`);
  if (t.messagesReceived > 0n || (t.firstMessage && t.firstMessage.count > 0n))
    lines.push(`  stream messages: ${t.messagesReceived}   messages/s: ${t.messagesPerS.toFixed(1)}   first message p50 ${pct(t.firstMessage, "p50Us")}  p99 ${pct(t.firstMessage, "p99Us")}`);
  if (spec?.http?.tls?.insecure) lines.push("  TLS verification off (insecure)");
  return lines;
}

/** `n` and the noun, singular for one: "1 driver", "3 drivers". */
export function plural(n: number | bigint, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 || n === 1n ? noun : nouns}`;
}

/** A count the way one reads it at a glance: 950, 15k, 1.2M. */
export function compact(n: number | bigint): string {
  return new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(n).replace("K", "k");
}

/**
 * The fleet and what it was asked to do: "3 drivers × 10 connections", "1 driver sharing 100 req/s";
 * a scenario test's workload counts iterations: "3 drivers × 4 iterations in flight".
 */
export function settingsOf(spec: TestSpec | undefined, drivers: number): string {
  const fleet = plural(drivers, "driver");
  const w = spec?.workload;
  const flows = (spec?.scenarios.length ?? 0) > 0;
  switch (w?.case) {
    case "avalanche":
      if (flows) return `${fleet} × ${plural(w.value.concurrency, "iteration")} in flight`;
      return `${fleet} × ${plural(w.value.concurrency, "connection")}${w.value.pipelining > 1 ? ` × ${w.value.pipelining} pipelined` : ""}`;
    case "tsunami":
      return `${fleet} × ${flows ? "an iteration" : "a request"} every ${w.value.delayMs} ms`;
    case "arrivalRate":
      return w.value.stages.length ? `${fleet} sharing ${plural(w.value.stages.length, "stage")} of arrival rate` : `${fleet} sharing ${w.value.ratePerS} ${flows ? "iterations/s" : "req/s"}`;
    default:
      return fleet;
  }
}

/** What a test is sent to: its URL, or for a scenario test the origin its steps' paths resolve against and its flows. */
export function targetOf(spec: TestSpec | undefined): string {
  if (!spec?.scenarios.length) return spec?.targetUrl ?? "?";
  let origin = spec.targetUrl;
  try {
    origin = new URL(spec.targetUrl).origin;
  } catch {
    // Not a URL: shown as it is.
  }
  return `${origin}, ${plural(spec.scenarios.length, "scenario")} of ${plural(spec.scenarios.reduce((n, s) => n + s.steps.length, 0), "step")}`;
}

/** "15k requests in 0.82 s, 3 drivers × 10 connections": what ran, how long, with what. */
function settingsLine(report: Report): string {
  const t = report.total!;
  const from = t.start ?? report.startAt;
  const to = t.end ?? report.endedAt;
  const seconds = from && to ? ` in ${((msOf(to) - msOf(from)) / 1000).toFixed(2)} s` : "";
  const workload = { avalanche: "avalanche", tsunami: "tsunami", arrivalRate: "arrival rate" }[report.spec?.workload.case ?? "avalanche"];
  return `  ${compact(t.requests)} ${t.requests === 1n ? "request" : "requests"}${seconds}, ${settingsOf(report.spec, report.drivers.length)} (${workload} against ${targetOf(report.spec)})`;
}

/**
 * A plain-text summary of a final report, as the CLI prints it: the headline says FAILING (with
 * the reasons) beside the state when the outcome, or one of `failedThresholds`, says so; a
 * passing test's headline is its state alone.
 */
export function formatReport(report: Report, failedThresholds: readonly string[] = []): string {
  const t = report.total!;
  const verdict = verdictOf(report, failedThresholds);
  const judged = verdict.failing ? `, FAILING — ${verdict.reasons.join("; ")}` : "";
  const errors = errorsLine(t);
  const lines = [
    `test ${report.testId}${report.spec?.name ? ` "${report.spec.name}"` : ""}: ${TestState[report.state]}${report.partial ? " (partial)" : ""}${judged}${report.message ? ` — ${report.message}` : ""}`,
    ...(errors ? [`  ${errors}`] : []),
    settingsLine(report),
    `  requests: ${t.requests}   req/s: ${t.requestsPerS.toFixed(1)}   errors: ${t.errors}   bytes: ${t.bytesReceived}` +
      (t.dropped > 0n ? `   dropped: ${t.dropped}` : "") +
      (t.late > 0n ? `   late: ${t.late}` : ""),
    countsLine(t),
    latencyLine(t.serviceTime ? "latency (from scheduled start)" : "latency", t.latency),
  ];
  if (t.serviceTime) lines.push(latencyLine("service time (from send)", t.serviceTime));
  // Failed requests' times are kept out of the percentiles above: the time to fail is apart.
  if (t.failedLatency && t.failedLatency.count > 0n) lines.push(latencyLine("failed requests, time to fail", t.failedLatency));
  lines.push(...transportLines(t, report.spec));
  lines.push(...scenarioLines(t.scenarios), ...stepLines(t.steps));
  // One driver has no fleet to be skewed against: only its own late start is worth a word.
  const many = report.drivers.length > 1;
  if (many) lines.push(`  fleet start skew: ${ms(report.fleetStartSkewUs)}`);
  lines.push("  per driver:");
  for (const d of report.drivers) {
    const s = d.stats!;
    lines.push(
      `    ${d.driverId}: ${plural(s.requests, "request")}, ${s.requestsPerS.toFixed(1)} req/s, ${plural(s.errors, "error")}, ` +
        `p50 ${ms(s.latency?.p50Us ?? 0n)}, p99 ${ms(s.latency?.p99Us ?? 0n)}` +
        (many || d.lateStart ? `, start skew ${ms(d.startSkewUs)}` : "") +
        (d.lateStart ? " (LATE START)" : "") +
        (d.message ? ` — ${d.message}` : "") +
        d.dataExhausted.map((f) => ` — data file "${f}" ran out (on_exhausted: stop), its scenarios stopped there`).join(""),
    );
  }
  return lines.join("\n");
}

/**
 * Rows of cells as aligned columns, each line starting with `indent`: the first column left-aligned,
 * the others right-aligned when `numbers`, left-aligned otherwise; the last cell is not padded.
 */
export function alignColumns(rows: readonly (readonly string[])[], indent = "", numbers = false): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map(
    (r) => indent + r.map((cell, i) => (numbers && i > 0 ? cell.padStart(widths[i]!) : i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd(),
  );
}

const pct = (l: LatencyStats | undefined, p: "p50Us" | "p99Us") => (l && l.count > 0n ? ms(l[p]) : "–");

/** A scenario test's iterations per scenario (none for a single-request test). */
function scenarioLines(scenarios: readonly ScenarioStats[]): string[] {
  if (scenarios.length === 0) return [];
  const rows = [["scenario", "iterations", "aborted", "it/s", "iteration p50", "p99"]];
  for (const s of scenarios)
    rows.push([s.scenario, String(s.iterations), String(s.aborted), s.iterationsPerS.toFixed(1), pct(s.iterationDuration, "p50Us"), pct(s.iterationDuration, "p99Us")]);
  return ["  per scenario (iteration duration without think time):", ...alignColumns(rows, "    ", true)];
}

/** A scenario test's numbers per step, and the checks that failed by name (none for a single-request test). */
function stepLines(steps: readonly StepStats[]): string[] {
  if (steps.length === 0) return [];
  // RPC steps: their calls by code, in a last column (none when no step made a call).
  const rpc = steps.some((st) => Object.keys(st.stats?.codeCounts ?? {}).length > 0);
  const rows = [["step", "requests", "errors", "checks passed", "failed", "capture missing", "p50", "p99", ...(rpc ? ["codes"] : [])]];
  const failed: string[] = [];
  for (const st of steps) {
    const name = `${st.scenario}/${st.step}`;
    const s = st.stats;
    const passed = st.checks.reduce((n, c) => n + c.passed, 0n);
    const fails = st.checks.reduce((n, c) => n + c.failed, 0n);
    rows.push([
      name,
      String(s?.requests ?? 0n),
      String(s?.errors ?? 0n),
      String(passed),
      String(fails),
      String(st.captureMissing),
      pct(s?.latency, "p50Us"),
      pct(s?.latency, "p99Us"),
      ...(rpc ? [s ? codesText(s) || "–" : "–"] : []),
    ]);
    for (const c of st.checks) if (c.failed > 0n) failed.push(`    ${name} "${c.name}": failed ${c.failed} of ${c.passed + c.failed}`);
  }
  return ["  per step (latency of succeeded requests):", ...alignColumns(rows, "    ", true), ...(failed.length > 0 ? ["  failed checks:", ...failed] : [])];
}
