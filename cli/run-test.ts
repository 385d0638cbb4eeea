/**
 * Running one test from the CLI (`kannon run` and `kannon test`): create, start, watch it live,
 * tell its thresholds' breaches, print the report, and the exit code it earns.
 */
import type { Client } from "@connectrpc/connect";
import type { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { clone } from "@bufbuild/protobuf";
import { TestSpecSchema, TestState, type Test, type TestSpec, type ThresholdResult } from "../gen/kannon/v1/test_pb.js";
import { scenarioLayout } from "../metrics/step-stats.js";
import { checkThresholds, formatValue } from "../metrics/thresholds.js";
import { describeProblems } from "../orchestrator/validate.js";
import { msOf } from "../metrics/stats.js";
import { swallowed } from "../metrics/swallowed.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import { UsageError } from "./args.js";
import { isPartialInterval, StatusBlock } from "./status.js";
import { formatReport, plural, targetOf } from "./summary.js";

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
async function watchToEnd(client: OrchestratorClient, spec: TestSpec, testId: string, print: (line: string) => void, onTest: (t: Test) => void, status?: StatusBlock) {
  const nominalMs = spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
  for await (const msg of client.watchTest({ testId })) {
    if (msg.test && !msg.report) onTest(msg.test);
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
    help:
      "pass/fail on the fleet's merged numbers, judged by the orchestrator: 'p99<200ms', 'error_rate<1%', 'rps>=500', per step, scenario or check " +
      "('p99{step:login}<300ms', 'error_rate{scenario:checkout}<1%', 'checks{name:has-token}>99.9%'), on a sliding window ('p99[30s]<200ms') " +
      "(repeatable; p50 p90 p95 p99 p99.9 max mean, error_rate, checks, errors, requests, rps); exit 99 when one fails",
  },
  "abort-on-fail": { type: "boolean", help: "cancel the test at the first breach of an upper bound or of a window (the spec's abort)" },
} as const;

/**
 * The spec with the flags' thresholds after its own (a spec file's) and --abort-on-fail, every
 * threshold checked against the test (a usage error lists each problem: nothing runs).
 */
export function withJudging(spec: TestSpec, values: { threshold?: string[] | undefined; "abort-on-fail"?: boolean | undefined }): TestSpec {
  const flags = values.threshold ?? [];
  const { problems } = checkThresholds(flags, scenarioLayout(spec), spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS, "--threshold");
  if (problems.length > 0) throw new UsageError(`${plural(problems.length, "threshold problem")}: ${describeProblems(problems)}`);
  const judged = clone(TestSpecSchema, spec);
  judged.thresholds = [...spec.thresholds, ...flags];
  if (values["abort-on-fail"]) judged.abortOnFail = true;
  if (judged.abortOnFail && judged.thresholds.length === 0) throw new UsageError("--abort-on-fail needs at least one --threshold");
  return judged;
}

/** What a run ended with: the report, every threshold's result (the orchestrator's), and those that failed. */
export interface Outcome {
  report: Report;
  verdicts: ThresholdResult[];
  failed: ThresholdResult[];
}

/** A threshold's result as the summary prints it. */
export function verdictLine(r: ThresholdResult): string {
  const where = r.windowMs > 0 ? ` (window ${Number(r.windowFromMs) / 1000}–${Number(r.windowToMs) / 1000} s)` : "";
  return `    ${r.passed ? "✓ pass" : "✗ FAIL"}  ${r.threshold}: ${formatValue(r.unit, r.measured)}${where}${r.breachedLive ? " (breached during the run)" : ""}`;
}

/**
 * Creates and starts a test (its thresholds in the spec: the orchestrator judges them live,
 * cancels it at the first breach when the spec says abort_on_fail, and at the end), prints its
 * intervals as they stream and each breach as it is seen, then the report and each threshold's
 * verdict.
 */
export async function runTest(client: OrchestratorClient, spec: TestSpec, print: (line: string) => void): Promise<Outcome> {
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
  const told = new Set<string>();
  const onTest = (t: Test) => {
    for (const r of t.outcome?.thresholds ?? []) {
      if (!r.breachedLive || told.has(r.threshold)) continue;
      told.add(r.threshold);
      say(`kannon: threshold ${r.threshold} breached: ${formatValue(r.unit, r.measured)}${r.windowMs > 0 ? ` over the window ${Number(r.windowFromMs) / 1000}–${Number(r.windowToMs) / 1000} s` : " so far"}`);
      if (spec.abortOnFail) say(`kannon: abort on fail: the orchestrator cancels test ${id}`);
    }
  };
  try {
    const report = await watchToEnd(client, spec, id, print, onTest, status);
    await cancelling;
    const verdicts = report.outcome?.thresholds ?? [];
    const failed = verdicts.filter((v) => !v.passed);
    print(formatReport(report));
    if (verdicts.length > 0) print("  thresholds:");
    for (const v of verdicts) print(verdictLine(v));
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

