/**
 * Running one test from the CLI (`kannon run` and `kannon test`): create, start, watch it live,
 * judge its thresholds, print the report, and the exit code it earns.
 */
import type { Client } from "@connectrpc/connect";
import type { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { swallowed } from "../metrics/swallowed.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import { UsageError } from "./args.js";
import { isPartialInterval, StatusBlock } from "./status.js";
import { formatReport, plural, targetOf } from "./summary.js";
import { formatMeasured, judgedLive, parseThreshold, passes, type Threshold } from "./thresholds.js";

/** Exit codes, documented in the README. */
export const EXIT = { ok: 0, failure: 1, usage: 2, testNotCompleted: 3, testHadErrors: 4, testPartial: 5, thresholdFailed: 99 } as const;

export type OrchestratorClient = Client<typeof OrchestratorService>;

/** A latency or a rate, or "–" when the interval had no request to measure. */
const orDash = (requests: bigint, text: string) => (requests === 0n ? "–" : text);

/** One interval as a plain line; a partial one (the last, cut short by the end) gets no rate. */
export function intervalLine(i: Stats, nominalMs: number): string {
  const ms = i.start && i.end ? Math.round(msOf(i.end) - msOf(i.start)) : 0;
  const partial = isPartialInterval(i, nominalMs);
  const rate = partial ? "" : `, ${orDash(i.requests, i.requestsPerS.toFixed(0))} req/s`;
  return (
    `  interval ${i.interval} (${partial ? `${ms} of ${nominalMs} ms, partial` : `${ms} ms`}): ${plural(i.requests, "request")}${rate}, ` +
    `p99 ${orDash(i.requests, `${(Number(i.latency?.p99Us ?? 0n) / 1000).toFixed(2)} ms`)}, ${plural(i.errors, "error")}`
  );
}

/**
 * Watches a test to its end; returns the final report. On a terminal one status block updates in
 * place; otherwise each interval is one plain line.
 */
async function watchToEnd(client: OrchestratorClient, spec: TestSpec, testId: string, print: (line: string) => void, onCumulative: (s: Stats) => void, status?: StatusBlock) {
  const nominalMs = spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
  for await (const msg of client.watchTest({ testId })) {
    if (msg.cumulative && !msg.report) onCumulative(msg.cumulative);
    const i = msg.interval;
    if (status && !msg.report) status.update(msg);
    else if (i) print(intervalLine(i, nominalMs));
    if (msg.report) {
      status?.end();
      return msg.report;
    }
  }
  throw new Error(`the watch of test ${testId} ended without a report`);
}

/** Flags of thresholds, shared by `run` and `test`. */
export const judgingFlags = {
  threshold: {
    type: "string",
    multiple: true,
    value: "RULE",
    help: "pass/fail on the merged numbers, e.g. 'p99<200ms', 'error_rate<1%', 'rps>=500' (repeatable; p50 p90 p95 p99 p99.9 max mean, errors, requests); exit 99 when one fails",
  },
  "abort-on-fail": { type: "boolean", help: "cancel the test at the first breach of an upper bound" },
} as const;

export function judgingFrom(values: { threshold?: string[] | undefined; "abort-on-fail"?: boolean | undefined }, fromFile: string[] = []): Judging {
  const thresholds = [...fromFile, ...(values.threshold ?? [])].map(parseThreshold);
  if (values["abort-on-fail"] && thresholds.length === 0) throw new UsageError("--abort-on-fail needs at least one --threshold");
  return { thresholds, abortOnFail: values["abort-on-fail"] ?? false };
}

/** Thresholds to judge a test by, and whether a breach cancels it. */
export interface Judging {
  thresholds: Threshold[];
  abortOnFail: boolean;
}

/** One threshold's verdict on a finished test. */
export interface Verdict {
  threshold: Threshold;
  pass: boolean;
  /** Breached on the numbers so far, during the run. */
  breachedLive: boolean;
}

/** What a run ended with: the report, every threshold's verdict, and those that failed (live or at the end). */
export interface Outcome {
  report: Report;
  verdicts: Verdict[];
  failed: Threshold[];
}

/**
 * Creates and starts a test, prints its intervals as they stream, judges its thresholds on the
 * merged numbers as they come (cancelling it at the first breach with --abort-on-fail) and at
 * the end, then prints the report and each threshold's verdict.
 */
export async function runTest(client: OrchestratorClient, spec: TestSpec, print: (line: string) => void, judging: Judging = { thresholds: [], abortOnFail: false }): Promise<Outcome> {
  const { test } = await client.createTest({ spec });
  const id = test!.id;
  try {
    await client.startTest({ testId: id });
  } catch (err) {
    // Not started (no ready drivers, say): leave no test behind waiting in CREATED.
    await client.cancelTest({ testId: id }).catch((cancelErr: unknown) => swallowed("run.cancel_unstarted", `kannon: could not cancel the unstarted test ${id}: ${String(cancelErr)}`, print));
    throw err;
  }
  const workload = { avalanche: "avalanche", tsunami: "tsunami", arrivalRate: "arrival-rate" }[spec.workload.case!];
  print(`kannon: test ${id} "${spec.name}" started: ${workload} against ${targetOf(spec)}`);
  // Ctrl-C (or SIGTERM) cancels the test; the drivers flush and the report still comes.
  let cancelling: Promise<unknown> | undefined;
  const cancel = () => {
    print(`kannon: cancelling test ${id}...`);
    cancelling ??= client.cancelTest({ testId: id }).catch((err: unknown) => swallowed("run.cancel", `kannon: cancel of test ${id} failed: ${String(err)}`, print));
  };
  process.on("SIGINT", cancel);
  process.on("SIGTERM", cancel);
  const status = process.stdout.isTTY && !process.env.KANNON_PLAIN ? new StatusBlock(process.stdout) : undefined;
  const say = (line: string) => (status ? status.print(line) : print(line));
  const breached = new Set<Threshold>();
  const onCumulative = (s: Stats) => {
    for (const t of judging.thresholds) {
      if (!judgedLive(t) || breached.has(t) || passes(t, s)) continue;
      breached.add(t);
      say(`kannon: threshold ${t.text} breached: ${formatMeasured(t, s)} so far`);
      if (judging.abortOnFail && !cancelling) {
        say(`kannon: --abort-on-fail: cancelling test ${id}`);
        cancelling = client.cancelTest({ testId: id }).catch((err: unknown) => swallowed("run.cancel", `kannon: cancel of test ${id} failed: ${String(err)}`, print));
      }
    }
  };
  try {
    const report = await watchToEnd(client, spec, id, print, onCumulative, status);
    await cancelling;
    const verdicts = judging.thresholds.map((t) => {
      // Aborted by a breach: that threshold failed, whatever the cut-short totals say.
      const pass = passes(t, report.total!) && !(judging.abortOnFail && breached.has(t));
      return { threshold: t, pass, breachedLive: breached.has(t) };
    });
    const failed = verdicts.filter((v) => !v.pass).map((v) => v.threshold);
    print(formatReport(report, failed.map((t) => t.text)));
    if (judging.thresholds.length > 0) print("  thresholds:");
    for (const v of verdicts)
      print(`    ${v.pass ? "✓ pass" : "✗ FAIL"}  ${v.threshold.text}: ${formatMeasured(v.threshold, report.total!)}${v.breachedLive ? " (breached during the run)" : ""}`);
    return { report, verdicts, failed };
  } finally {
    process.removeListener("SIGINT", cancel);
    process.removeListener("SIGTERM", cancel);
  }
}

/** The exit code a finished test earns. */
export function exitCodeOf({ report, failed }: Outcome): number {
  if (failed.length > 0) return EXIT.thresholdFailed;
  if (report.state !== TestState.COMPLETED) return EXIT.testNotCompleted;
  if (report.total!.errors > 0n) return EXIT.testHadErrors;
  return report.partial ? EXIT.testPartial : EXIT.ok;
}

