/**
 * Compiles a test's scenarios (TestSpec.scenarios) into what a driver runs: steps flattened with
 * their index, templates, checks and captures compiled once, think time and flags read, and what
 * each step must keep of a response. Validation (validate.ts) is this compile with its problems
 * collected: the orchestrator refuses exactly what a driver could not compile.
 */
import type { DescMethod, FileRegistry } from "@bufbuild/protobuf";
import type { Rpc } from "../gen/kannon/v1/protocol_pb.js";
import { checkRpc, schemaRegistry } from "../rpc/check.js";
import { requestProblems, sampleJson } from "../rpc/request-json.js";
import { CaptureMissing, type Capture, type Check, type Scenario, type Step } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { compileCapture, compileCheck, type CompiledCapture, type CompiledCheck } from "./response.js";
import { BUILT_IN_NAMES, compileTemplate, UNKNOWN_COLUMNS, VAR_NAME, type Template, type TemplateProblem as FieldProblem, type TemplateScope } from "./template.js";

/** What part of a response a check or capture reads. */
export type ResponsePart = "status" | "latency" | "headers" | "body";

/** A compiled check of a step, with its name. */
export interface StepCheck {
  name: string;
  test: CompiledCheck;
  reads: ResponsePart;
}

/** A compiled capture of a step, with the variable it sets. */
export interface StepCapture {
  name: string;
  take: CompiledCapture;
  reads: ResponsePart;
}

/** A step, ready to run. */
export interface CompiledStep {
  /** The step's index in the test's flattened steps (scenario.proto). */
  index: number;
  scenarioIndex: number;
  name: string;
  /** Upper case; GET when the spec leaves it empty. */
  method: string;
  url: Template;
  headers: [name: string, value: Template][];
  /** Undefined: no body. */
  body: Template | undefined;
  checks: StepCheck[];
  captures: StepCapture[];
  /** The pause after the step in ms, uniform in [minMs, maxMs]; undefined: none. */
  think: { minMs: number; maxMs: number } | undefined;
  abortOnFail: boolean;
  abortOnCaptureMissing: boolean;
  /** What the step's checks and captures read of a response (the rest need not be kept). */
  keep: { body: boolean; headers: boolean };
  /** The step is this RPC (Step.rpc), its request JSON a template; its URL gives only the origin. */
  rpc: CompiledRpc | undefined;
}

/** A step's RPC, compiled. */
export interface CompiledRpc {
  spec: Rpc;
  /** Template of the request message as protobuf JSON (empty text: the empty message). */
  json: Template;
  /** The method in the test's schema (rpc_schema.image); undefined when the schema lacks it or does not read (CreateTest refuses both). */
  method: DescMethod | undefined;
}

/** A scenario, ready to run. */
export interface CompiledScenario {
  index: number;
  name: string;
  weight: number;
  /** The data file each iteration takes a row from; undefined: none. */
  dataFile: string | undefined;
  steps: CompiledStep[];
}

/** The compile's outcome: the scenarios (runnable only when there is no problem) and every problem. */
export interface CompiledScenarios {
  scenarios: CompiledScenario[];
  problems: FieldProblem[];
}

/**
 * Compiles spec.scenarios. `columns` gives a data file's columns by name: undefined when the test
 * has no such file, {@link UNKNOWN_COLUMNS} when its columns are unknown (the file has problems of its own).
 */
export function compileScenarios(spec: TestSpec, columns: (file: string) => ReadonlySet<string> | undefined): CompiledScenarios {
  const problems: FieldProblem[] = [];
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const scenarios: CompiledScenario[] = [];
  if (spec.scenarios.length === 0) return { scenarios, problems };
  if (spec.method) bad("spec.method", "must be empty when the test has scenarios (each step has its own)");
  if (Object.keys(spec.headers).length > 0) bad("spec.headers", "must be empty when the test has scenarios (each step has its own)");
  if (spec.body.length > 0) bad("spec.body", "must be empty when the test has scenarios (each step has its own)");
  if (spec.scenarios.every((s) => s.weight === 0)) bad("spec.scenarios", "every weight is 0: at least one scenario must have a weight above 0");
  const names = new Set<string>();
  let stepIndex = 0;
  const schema = schemaRegistry(spec);
  // The schema's own problems are spec.rpc_schema's (rpc/check.ts); steps are checked against a schema that reads.
  const rpc: RpcContext = { spec, registry: typeof schema === "string" ? undefined : schema };
  spec.scenarios.forEach((s, i) => {
    const at = `spec.scenarios[${i}]`;
    if (!s.name) bad(`${at}.name`, "is required");
    else if (names.has(s.name)) bad(`${at}.name`, `"${s.name}" is the name of an earlier scenario`);
    names.add(s.name);
    const scenario = compileScenario(s, i, stepIndex, at, columns, rpc, problems);
    stepIndex += scenario.steps.length;
    scenarios.push(scenario);
  });
  return { scenarios, problems };
}

function compileScenario(
  s: Scenario,
  index: number,
  firstStep: number,
  at: string,
  columnsOf: (file: string) => ReadonlySet<string> | undefined,
  rpc: RpcContext,
  problems: FieldProblem[],
): CompiledScenario {
  let columns: ReadonlySet<string> | undefined;
  if (s.dataFile) {
    columns = columnsOf(s.dataFile);
    if (!columns) problems.push({ field: `${at}.data_file`, problem: `names no data file: "${s.dataFile}"` });
  }
  if (s.steps.length === 0) problems.push({ field: `${at}.steps`, problem: "needs at least one step" });
  const vars = new Set<string>();
  const stepNames = new Set<string>();
  const steps = s.steps.map((step, j) => {
    const st = `${at}.steps[${j}]`;
    if (!step.name) problems.push({ field: `${st}.name`, problem: "is required" });
    else if (stepNames.has(step.name)) problems.push({ field: `${st}.name`, problem: `"${step.name}" is the name of an earlier step of this scenario` });
    stepNames.add(step.name);
    return compileStep(step, { index: firstStep + j, scenarioIndex: index }, st, { columns: s.dataFile ? (columns ?? UNKNOWN_COLUMNS) : undefined, vars }, rpc, problems);
  });
  return { index, name: s.name, weight: s.weight, dataFile: s.dataFile || undefined, steps };
}

const EMPTY: Template = { literals: [""], slots: [] };

/** What RPC steps are compiled against: the test (its HTTP options) and its schema (undefined: none that reads). */
interface RpcContext {
  spec: TestSpec;
  registry: FileRegistry | undefined;
}

/** Compiles one step; the captures it makes are added to `scope.vars` for the later steps. */
function compileStep(
  step: Step,
  index: { index: number; scenarioIndex: number },
  st: string,
  scope: { columns: ReadonlySet<string> | undefined; vars: Set<string> },
  context: RpcContext,
  problems: FieldProblem[],
): CompiledStep {
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const own: FieldProblem[] = [];
  const here: TemplateScope = { columns: scope.columns, vars: new Set(scope.vars) };
  const template = (text: string, field: string): Template => {
    const r = compileTemplate(text, field, here);
    if ("problems" in r) {
      own.push(...r.problems);
      return EMPTY;
    }
    return r.template;
  };
  // An RPC step's URL is optional: it names the origin (the target's by default).
  if (!step.url && !step.rpc) bad(`${st}.url`, "is required");
  else if (step.url && !/^(https?:\/\/|\/|\{\{)/.test(step.url)) bad(`${st}.url`, `must be an absolute http(s) URL or a path starting with "/", got "${step.url.slice(0, 80)}"`);
  const url = template(step.url || "/", `${st}.url`);
  const headers = Object.entries(step.headers).map(([name, value]): [string, Template] => [name, template(value, `${st}.headers["${name}"]`)]);
  const body = step.body ? template(step.body, `${st}.body`) : undefined;
  const rpc = step.rpc ? compileRpc(step, st, template, context, own) : undefined;
  const checkNames = new Set<string>();
  const checks: StepCheck[] = [];
  step.checks.forEach((c, k) => {
    if (!c.name) bad(`${st}.checks[${k}].name`, "is required");
    else if (checkNames.has(c.name)) bad(`${st}.checks[${k}].name`, `"${c.name}" is the name of an earlier check of this step`);
    checkNames.add(c.name);
    const test = compileCheck(c, `${st}.checks[${k}]`, own);
    if (test) checks.push({ name: c.name, test, reads: checkReads(c) });
  });
  const captures: StepCapture[] = [];
  step.captures.forEach((c, k) => {
    if (!VAR_NAME.test(c.name)) bad(`${st}.captures[${k}].name`, `must be letters, digits and "_", not starting with a digit, got "${c.name}"`);
    else if (BUILT_IN_NAMES.has(c.name)) bad(`${st}.captures[${k}].name`, `"${c.name}" is a built-in name`);
    const take = compileCapture(c, `${st}.captures[${k}]`, own);
    if (take) captures.push({ name: c.name, take, reads: captureReads(c) });
    scope.vars.add(c.name);
  });
  const think = step.thinkTime?.kind;
  if (think?.case === "uniform" && think.value.minMs > think.value.maxMs)
    bad(`${st}.think_time.uniform`, `min_ms must not exceed max_ms (${think.value.minMs} > ${think.value.maxMs})`);
  problems.push(...own);
  const reads = new Set<ResponsePart>([...checks.map((c) => c.reads), ...captures.map((c) => c.reads)]);
  return {
    ...index,
    name: step.name,
    method: step.method.toUpperCase() || "GET",
    url,
    headers,
    body,
    checks,
    captures,
    think:
      think?.case === "constantMs" ? { minMs: think.value, maxMs: think.value } : think?.case === "uniform" ? { minMs: think.value.minMs, maxMs: think.value.maxMs } : undefined,
    abortOnFail: step.abortIterationOnFail,
    abortOnCaptureMissing: step.onCaptureMissing === CaptureMissing.ABORT_ITERATION,
    keep: { body: reads.has("body"), headers: reads.has("headers") },
    rpc,
  };
}

/** Compiles a step's RPC: not with method or body; its method in the schema; its request JSON template, rendered with samples, fits the input. */
function compileRpc(step: Step, st: string, template: (text: string, field: string) => Template, context: RpcContext, problems: FieldProblem[]): CompiledRpc {
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const rpc = step.rpc!;
  if (step.method) bad(`${st}.method`, "must be empty when the step is an RPC (rpc): RPCs are POSTs");
  if (step.body) bad(`${st}.body`, "must be empty when the step is an RPC (rpc): the message is rpc.request_json");
  step.checks.forEach((c, k) => {
    if (c.kind.case === "status")
      bad(`${st}.checks[${k}].status`, "checks an HTTP status, which an RPC step does not have: its outcome is its RPC code (code_counts; a code other than ok fails the call)");
  });
  const json = template(rpc.requestJson, `${st}.rpc.request_json`);
  const method = context.registry ? checkRpc(rpc, `${st}.rpc`, context.registry, context.spec, bad) : undefined;
  if (method) for (const p of requestProblems(method, sampleJson(json), context.registry)) bad(`${st}.rpc.request_json`, p);
  return { spec: rpc, json, method };
}

function checkReads(c: Check): ResponsePart {
  switch (c.kind.case) {
    case "status":
      return "status";
    case "latencyBelowMs":
      return "latency";
    case "header":
      return "headers";
    default:
      return "body";
  }
}

function captureReads(c: Capture): ResponsePart {
  return c.source.case === "header" ? "headers" : "body";
}
