import type { LatencyStats, Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";

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

/** A plain-text summary of a final report, as the CLI prints it. */
export function formatReport(report: Report): string {
  const t = report.total!;
  const lines = [
    `test ${report.testId}: ${TestState[report.state]}${report.partial ? " (partial)" : ""}${report.message ? ` — ${report.message}` : ""}`,
    `  requests: ${t.requests}   req/s: ${t.requestsPerS.toFixed(1)}   errors: ${t.errors}   bytes: ${t.bytesReceived}` +
      (t.dropped > 0n ? `   dropped: ${t.dropped}` : "") +
      (t.late > 0n ? `   late: ${t.late}` : ""),
    countsLine(t),
    latencyLine(t.serviceTime ? "latency (from scheduled start)" : "latency", t.latency),
  ];
  if (t.serviceTime) lines.push(latencyLine("service time (from send)", t.serviceTime));
  lines.push(`  fleet start skew: ${ms(report.fleetStartSkewUs)}`, "  per driver:");
  for (const d of report.drivers) {
    const s = d.stats!;
    lines.push(
      `    ${d.driverId}: ${s.requests} requests, ${s.requestsPerS.toFixed(1)} req/s, ${s.errors} errors, ` +
        `p50 ${ms(s.latency?.p50Us ?? 0n)}, p99 ${ms(s.latency?.p99Us ?? 0n)}, start skew ${ms(d.startSkewUs)}` +
        (d.lateStart ? " (LATE START)" : "") +
        (d.message ? ` — ${d.message}` : ""),
    );
  }
  return lines.join("\n");
}
