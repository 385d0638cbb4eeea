import { toBinary } from "@bufbuild/protobuf";
import { ScenarioSchema } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { validateScenarios } from "../scenario/validate.js";
import { checkSpecRpc } from "../rpc/check.js";
import { checkHttp } from "./validate-http.js";
import { checkThresholds } from "../metrics/thresholds.js";
import { checkTls } from "./validate-tls.js";
import { scenarioLayout } from "../metrics/step-stats.js";
import { DEFAULT_REPORT_INTERVAL_MS, MAX_PIPELINING } from "../workload/defaults.js";

/** Smallest report interval a test may ask for. */
export const MIN_REPORT_INTERVAL_MS = 100;
/** Fleet-wide arrival rate ceiling: far beyond what a fleet sends, low enough to catch a typo. */
export const MAX_RATE_PER_S = 1_000_000;
/** Most stages an arrival-rate workload may have. */
export const MAX_STAGES = 1000;
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What undici (and RFC 9110 field-value) accepts. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers the HTTP client owns: overriding them breaks the connection or its framing. */
const CONNECTION_HEADERS = new Set(["connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "expect"]);
/** Largest request body: it travels in every test_config message (Kafka's default limit is 1 MB). */
export const MAX_BODY_BYTES = 512 * 1024;
const HOUR_MS = 3_600_000;
/**
 * Size limits that keep a test_config message (spec and driver list) well under Kafka's default
 * 1 MB message size: body 512 KiB + headers 64 KiB + URL 8 KiB + name + stages ≈ 600 KiB.
 */
export const MAX_NAME_CHARS = 256;
export const MAX_URL_CHARS = 8192;
export const MAX_HEADERS = 100;
export const MAX_HEADER_BYTES = 8192;
export const MAX_HEADERS_TOTAL_BYTES = 64 * 1024;
/**
 * Largest encoded size of a test's scenarios (their steps' URLs, headers, bodies, checks and
 * captures): they travel in every test_config message in place of the single request's body and
 * headers, so they get the same budget.
 */
export const MAX_SCENARIOS_BYTES = MAX_BODY_BYTES + MAX_HEADERS_TOTAL_BYTES;
/** Most steps a test may have (over all its scenarios): each is a block in every metrics message. */
export const MAX_STEPS = 256;
/** Longest run a duration may ask for: what one Node timer can wait (about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** One problem with a request field. */
export interface FieldProblem {
  field: string;
  problem: string;
}

/** Every problem of a spec, and whether one of them is a size limit (gRPC resource_exhausted). */
export interface SpecCheck {
  problems: FieldProblem[];
  resourceExhausted: boolean;
}

/** Checks a test spec; returns every problem at once, each naming its field (empty when valid). */
export function validateSpec(spec: TestSpec | undefined): FieldProblem[] {
  return checkSpec(spec).problems;
}

/**
 * Checks a test spec, scenarios and data files included: every problem at once, each naming its
 * field; `resourceExhausted` when a size limit of the scenarios or data files is among them (the
 * problem names the limit).
 */
export function checkSpec(spec: TestSpec | undefined): SpecCheck {
  if (!spec) return { problems: [{ field: "spec", problem: "is required" }], resourceExhausted: false };
  const problems: FieldProblem[] = [];
  const bad = (field: string, problem: string) => problems.push({ field, problem });

  if (spec.name.length > MAX_NAME_CHARS) bad("spec.name", `must be at most ${MAX_NAME_CHARS} characters, got ${spec.name.length}`);
  if (!spec.targetUrl) bad("spec.target_url", "is required");
  else if (spec.targetUrl.length > MAX_URL_CHARS) bad("spec.target_url", `must be at most ${MAX_URL_CHARS} characters, got ${spec.targetUrl.length}`);
  else {
    try {
      const url = new URL(spec.targetUrl);
      if (url.protocol !== "http:" && url.protocol !== "https:")
        bad("spec.target_url", `must use http or https, not "${url.protocol.replace(/:$/, "")}"`);
      else if (!url.hostname) bad("spec.target_url", "has no host");
    } catch {
      bad("spec.target_url", `is not an absolute URL: "${spec.targetUrl}"`);
    }
  }
  checkTls(spec, bad);
  if (spec.method && !METHODS.has(spec.method.toUpperCase()))
    bad("spec.method", `must be one of ${[...METHODS].join(", ")}, not "${spec.method}"`);
  checkHeaders(spec.headers, "spec.headers", bad);
  if (spec.body.length > MAX_BODY_BYTES) bad("spec.body", `must be at most ${MAX_BODY_BYTES} bytes, got ${spec.body.length}`);
  if (spec.reportIntervalMs !== 0 && spec.reportIntervalMs < MIN_REPORT_INTERVAL_MS)
    bad("spec.report_interval_ms", `must be at least ${MIN_REPORT_INTERVAL_MS} (or 0 for the default 1000), got ${spec.reportIntervalMs}`);
  for (const [field, value, max] of [
    ["spec.report_interval_ms", spec.reportIntervalMs, HOUR_MS],
    ["spec.request_timeout_ms", spec.requestTimeoutMs, HOUR_MS],
    ["spec.start_delay_ms", spec.startDelayMs, HOUR_MS],
    ["spec.max_duration_ms", spec.maxDurationMs, MAX_DURATION_MS],
  ] as const)
    if (value > max) bad(field, `must be at most ${max}, got ${value}`);
  if (!(spec.maxErrorRate >= 0 && spec.maxErrorRate <= 1))
    bad("spec.max_error_rate", `must be a fraction between 0 and 1 (0.05 for 5 %; 0 for the default 1 %), got ${spec.maxErrorRate}`);

  const w = spec.workload;
  switch (w.case) {
    case undefined:
      bad("spec.workload", "is required: set avalanche, tsunami or arrival_rate");
      break;
    case "avalanche":
      if (w.value.concurrency < 1) bad("spec.avalanche.concurrency", "must be at least 1");
      if (w.value.concurrency > 10_000) bad("spec.avalanche.concurrency", "must be at most 10000");
      if (w.value.pipelining > MAX_PIPELINING) bad("spec.avalanche.pipelining", `must be at most ${MAX_PIPELINING} requests in flight per connection`);
      checkLimit(w.value.limit, "spec.avalanche", bad);
      break;
    case "tsunami":
      if (w.value.delayMs < 1) bad("spec.tsunami.delay_ms", "must be at least 1");
      checkLimit(w.value.limit, "spec.tsunami", bad);
      break;
    case "arrivalRate": {
      const a = w.value;
      if (!(a.ratePerS >= 0) || !Number.isFinite(a.ratePerS)) bad("spec.arrival_rate.rate_per_s", "must be a finite number ≥ 0");
      else if (a.ratePerS > MAX_RATE_PER_S) bad("spec.arrival_rate.rate_per_s", `must be at most ${MAX_RATE_PER_S}`);
      if (a.stages.length > MAX_STAGES) bad("spec.arrival_rate.stages", `must have at most ${MAX_STAGES} stages`);
      if (a.stages.length === 0) {
        if (a.durationMs < 1) bad("spec.arrival_rate.duration_ms", "must be at least 1 when there are no stages");
        if (!(a.ratePerS > 0)) bad("spec.arrival_rate.rate_per_s", "must be > 0 when there are no stages");
      }
      a.stages.forEach((s, i) => {
        if (!(s.targetRatePerS >= 0) || !Number.isFinite(s.targetRatePerS))
          bad(`spec.arrival_rate.stages[${i}].target_rate_per_s`, "must be a finite number ≥ 0");
        else if (s.targetRatePerS > MAX_RATE_PER_S)
          bad(`spec.arrival_rate.stages[${i}].target_rate_per_s`, `must be at most ${MAX_RATE_PER_S}`);
        if (s.durationMs < 1) bad(`spec.arrival_rate.stages[${i}].duration_ms`, "must be at least 1");
      });
      break;
    }
  }
  checkHttp(spec, bad);
  problems.push(...checkThresholds(spec.thresholds, scenarioLayout(spec), spec.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS).problems);
  if (spec.abortOnFail && spec.thresholds.length === 0) bad("spec.abort_on_fail", "needs at least one threshold (spec.thresholds) to abort on");
  const schemaExhausted = checkSpecRpc(spec, bad);
  if (spec.scenarios.length === 0 && spec.dataFiles.length === 0) return { problems, resourceExhausted: schemaExhausted };
  const scenarios = validateScenarios(spec);
  problems.push(...scenarios.problems);
  return { problems, resourceExhausted: checkSteps(spec, bad) || scenarios.resourceExhausted || schemaExhausted };
}

/**
 * What the drivers' HTTP clients need of each step beyond scenario/validate.ts (which compiles the
 * templates, checks and captures): a known method, sendable headers, a URL that stays on its
 * origin, and the size limits. True when a size limit is exceeded.
 */
function checkSteps(spec: TestSpec, bad: (field: string, problem: string) => void): boolean {
  let exhausted = false;
  let steps = 0;
  let bytes = 0;
  spec.scenarios.forEach((s, i) => {
    bytes += toBinary(ScenarioSchema, s).length;
    steps += s.steps.length;
    s.steps.forEach((step, j) => {
      const at = `spec.scenarios[${i}].steps[${j}]`;
      if (step.method && !METHODS.has(step.method.toUpperCase())) bad(`${at}.method`, `must be one of ${[...METHODS].join(", ")}, not "${step.method}"`);
      // "//host/…" would resolve against target_url to another host.
      if (step.url.startsWith("//")) bad(`${at}.url`, `must be an absolute http(s) URL or a path starting with a single "/", got "${step.url.slice(0, 80)}"`);
      checkHeaders(step.headers, `${at}.headers`, bad);
    });
  });
  if (steps > MAX_STEPS) {
    exhausted = true;
    bad("spec.scenarios", `have ${steps} steps in all, above the limit of ${MAX_STEPS} steps per test`);
  }
  if (bytes > MAX_SCENARIOS_BYTES) {
    exhausted = true;
    bad("spec.scenarios", `take ${bytes} bytes encoded, above the limit of ${MAX_SCENARIOS_BYTES} bytes per test (they travel in every test_config message)`);
  }
  return exhausted;
}

/** Checks a header map (the single request's, or a step's whose values are templates). */
function checkHeaders(map: { [name: string]: string }, field: string, bad: (field: string, problem: string) => void): void {
  const headers = Object.entries(map);
  if (headers.length > MAX_HEADERS) bad(field, `must have at most ${MAX_HEADERS} entries, got ${headers.length}`);
  let headerBytes = 0;
  for (const [name, value] of headers) {
    const size = Buffer.byteLength(name) + Buffer.byteLength(value);
    headerBytes += size;
    if (size > MAX_HEADER_BYTES) bad(`${field}["${name.slice(0, 64)}"]`, `name and value must be at most ${MAX_HEADER_BYTES} bytes, got ${size}`);
    else if (!HEADER_NAME.test(name)) bad(`${field}["${name}"]`, "is not a valid header name");
    else if (!HEADER_VALUE.test(value))
      bad(`${field}["${name}"]`, "value may hold only tab, visible ASCII and bytes 0x80–0xFF (no CR, LF or other control characters)");
    else if (CONNECTION_HEADERS.has(name.toLowerCase()))
      bad(`${field}["${name}"]`, "is set by the HTTP client itself (connection management and framing cannot be overridden)");
  }
  if (headerBytes > MAX_HEADERS_TOTAL_BYTES) bad(field, `must total at most ${MAX_HEADERS_TOTAL_BYTES} bytes, got ${headerBytes}`);
}

function checkLimit(
  limit: { case: "requestsPerDriver"; value: bigint } | { case: "durationMs"; value: number } | { case: undefined; value?: undefined },
  prefix: string,
  bad: (field: string, problem: string) => void,
): void {
  if (limit.case === undefined) bad(`${prefix}.limit`, "is required: set requests_per_driver or duration_ms");
  else if (limit.case === "requestsPerDriver" && limit.value < 1n) bad(`${prefix}.requests_per_driver`, "must be at least 1");
  else if (limit.case === "durationMs" && limit.value < 1) bad(`${prefix}.duration_ms`, "must be at least 1");
  else if (limit.case === "durationMs" && limit.value > MAX_DURATION_MS) bad(`${prefix}.duration_ms`, `must be at most ${MAX_DURATION_MS}`);
}

/** The problems as one message: "a: problem; b: problem". */
export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.field} ${p.problem}`).join("; ");
}
