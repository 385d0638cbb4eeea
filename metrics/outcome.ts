import { create } from "@bufbuild/protobuf";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { OutcomeSchema, TestState, Verdict, type Outcome, type TestSpec } from "../gen/kannon/v1/test_pb.js";

/*
 * Browser-safe (the dashboard and the HTML report use it): protobuf and the generated types only.
 */

/**
 * The rule for a failed request, shared by every driver and the merge: a transport error (no
 * response), or an HTTP status outside 100..399, so every 4xx and 5xx (k6's default expected
 * statuses are 200..399; a 1xx never ends a request). These are the requests `Stats.errors`
 * counts; their latency goes to the failed-latency histogram, out of the response-time percentiles.
 */
export function isFailedStatus(status: number): boolean {
  return status < 100 || status >= 400;
}

/** The states a test ends in: it changes no more. */
export const ENDED_STATES: ReadonlySet<TestState> = new Set([TestState.COMPLETED, TestState.CANCELLED, TestState.FAILED]);

/** True when a test in `state` has ended (COMPLETED, CANCELLED or FAILED). */
export function isEnded(state: TestState): boolean {
  return ENDED_STATES.has(state);
}

/** The error rate above which a test is failing when its spec sets none (1 %). */
export const DEFAULT_MAX_ERROR_RATE = 0.01;

/** How many error kinds a reason names (the largest first). */
const KINDS_NAMED = 3;

/** The failures by kind, largest first, as `connect_refused×30290, http_500×12` (at most three, then `…`). */
export function failureKinds(s: Pick<Stats, "statusCounts" | "errorCounts">): string {
  const kinds: [string, bigint][] = Object.entries(s.errorCounts);
  for (const [code, n] of Object.entries(s.statusCounts)) if (isFailedStatus(Number(code))) kinds.push([`http_${code}`, n]);
  kinds.sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : a[0] < b[0] ? -1 : 1));
  const named = kinds.slice(0, KINDS_NAMED).map(([k, n]) => `${k}×${n}`);
  return named.join(", ") + (kinds.length > KINDS_NAMED ? ", …" : "");
}

/** A fraction as a percentage with up to one decimal, e.g. 12.4%, 1%, 0.05%. */
export function percent(fraction: number): string {
  const p = fraction * 100;
  const text = p >= 0.1 || p === 0 ? p.toFixed(1) : p.toPrecision(1);
  return `${text.replace(/\.0$/, "")}%`;
}

/**
 * Judges a test's merged numbers: failing when every request failed, when the error rate is above
 * `spec.maxErrorRate` (default 1 %), when the test FAILED, or when it ended COMPLETED without one
 * request; passing otherwise once a request completed; not judged (UNSPECIFIED) before that.
 */
export function judgeOutcome(s: Pick<Stats, "requests" | "errors" | "statusCounts" | "errorCounts"> | undefined, spec: TestSpec | undefined, state: TestState, message = ""): Outcome {
  const requests = s?.requests ?? 0n;
  const failed = s?.errors ?? 0n;
  const errorRate = requests > 0n ? Number(failed) / Number(requests) : 0;
  const maxRate = spec && spec.maxErrorRate > 0 ? spec.maxErrorRate : DEFAULT_MAX_ERROR_RATE;
  const reasons: string[] = [];
  if (state === TestState.FAILED) reasons.push(`the test failed${message ? `: ${message}` : ""}`);
  if (requests > 0n && failed === requests) reasons.push(`every request failed (${failureKinds(s!)})`);
  else if (errorRate > maxRate) reasons.push(`error rate ${percent(errorRate)} above ${percent(maxRate)} (${failureKinds(s!)})`);
  if (requests === 0n && state === TestState.COMPLETED) reasons.push("no request completed");
  const verdict = reasons.length > 0 ? Verdict.FAILING : requests > 0n ? Verdict.PASSING : Verdict.UNSPECIFIED;
  return create(OutcomeSchema, { verdict, reasons, errorRate, requests, failed });
}

/**
 * A report's verdict with the client's own failed thresholds added: failing, and why. A report
 * stored before outcomes existed is judged here from its numbers, by the orchestrator's rule.
 */
export function verdictOf(report: Report, failedThresholds: readonly string[] = []): { failing: boolean; reasons: string[] } {
  const outcome = report.outcome?.verdict ? report.outcome : judgeOutcome(report.total, report.spec, report.state, report.message);
  const reasons = [...(outcome.verdict === Verdict.FAILING ? outcome.reasons : []), ...failedThresholds.map((t) => `threshold ${t} failed`)];
  return { failing: reasons.length > 0, reasons };
}

/** "errors: 812 of 10000 (8.1%): http_500×800, timeout×12": the failures at a glance; undefined when none. */
export function errorsLine(s: Stats): string | undefined {
  if (s.errors === 0n) return undefined;
  return `errors: ${s.errors} of ${s.requests} (${percent(Number(s.errors) / Number(s.requests))}): ${failureKinds(s)}`;
}
