/**
 * Validation of a test's scenarios and data files (TestSpec.scenarios, data_files): every problem
 * at once, each with its field path, by compiling everything a driver would compile (templates,
 * JSONPath, regular expressions, data files). The single-request fields are checked by
 * orchestrator/validate.ts.
 */
import { DataFormat, type DataFile, type Scenario } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { MAX_DATA_BYTES, parseCsv, parseJsonLines, type DataTable } from "./data.js";
import { compileCapture, compileCheck } from "./response.js";
import { BUILT_IN_NAMES, compileTemplate, VAR_NAME, type TemplateProblem as FieldProblem, type TemplateScope } from "./template.js";

/** The outcome: the problems, and whether one of them is a size limit (gRPC resource_exhausted). */
export interface ScenarioValidation {
  problems: FieldProblem[];
  resourceExhausted: boolean;
  /** The parsed data files by name (those that parsed). */
  tables: Map<string, DataTable>;
}

/** Checks spec.scenarios and spec.data_files; an empty scenarios list (a single-request test) has none. */
export function validateScenarios(spec: TestSpec): ScenarioValidation {
  const problems: FieldProblem[] = [];
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const tables = new Map<string, DataTable>();
  let resourceExhausted = false;

  const bytes = spec.dataFiles.reduce((sum, f) => sum + Buffer.byteLength(f.content), 0);
  if (bytes > MAX_DATA_BYTES) {
    resourceExhausted = true;
    bad("spec.data_files", `hold ${bytes} bytes, above the limit of ${MAX_DATA_BYTES} bytes (200 MB) per test`);
  } else spec.dataFiles.forEach((f, i) => checkDataFile(f, `spec.data_files[${i}]`, tables, bad));

  if (spec.scenarios.length === 0) {
    if (spec.dataFiles.length > 0) bad("spec.data_files", "are read only by scenarios, and the test has none");
    return { problems, resourceExhausted, tables };
  }
  if (spec.method) bad("spec.method", "must be empty when the test has scenarios (each step has its own)");
  if (Object.keys(spec.headers).length > 0) bad("spec.headers", "must be empty when the test has scenarios (each step has its own)");
  if (spec.body.length > 0) bad("spec.body", "must be empty when the test has scenarios (each step has its own)");
  if (spec.scenarios.every((s) => s.weight === 0)) bad("spec.scenarios", "every weight is 0: at least one scenario must have a weight above 0");
  const names = new Set<string>();
  spec.scenarios.forEach((s, i) => {
    const at = `spec.scenarios[${i}]`;
    if (!s.name) bad(`${at}.name`, "is required");
    else if (names.has(s.name)) bad(`${at}.name`, `"${s.name}" is the name of an earlier scenario`);
    names.add(s.name);
    checkScenario(s, at, spec.dataFiles, tables, bad);
  });
  return { problems, resourceExhausted, tables };
}

function checkDataFile(f: DataFile, at: string, tables: Map<string, DataTable>, bad: (field: string, problem: string) => void): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(f.name)) bad(`${at}.name`, `must be letters, digits, "_", "-" and ".", got "${f.name}"`);
  else if (tables.has(f.name)) bad(`${at}.name`, `"${f.name}" is the name of an earlier data file`);
  const parsed = f.format === DataFormat.CSV ? parseCsv(f.content) : f.format === DataFormat.JSON_LINES ? parseJsonLines(f.content) : undefined;
  if (!parsed) bad(`${at}.format`, "is required: CSV or JSON_LINES");
  else if (Array.isArray(parsed)) for (const p of parsed) bad(`${at}.content`, `line ${p.line}: ${p.problem}`);
  else if (!tables.has(f.name)) tables.set(f.name, parsed);
}

function checkScenario(s: Scenario, at: string, files: readonly DataFile[], tables: Map<string, DataTable>, bad: (field: string, problem: string) => void): void {
  let columns: ReadonlySet<string> | undefined;
  if (s.dataFile) {
    const table = tables.get(s.dataFile);
    if (table) columns = new Set(table.columns);
    else if (!files.some((f) => f.name === s.dataFile)) bad(`${at}.data_file`, `names no data file: "${s.dataFile}"`);
    else columns = new Set(); // the file has problems of its own; its columns are unknown
  }
  if (s.steps.length === 0) bad(`${at}.steps`, "needs at least one step");
  const vars = new Set<string>();
  const stepNames = new Set<string>();
  s.steps.forEach((step, j) => {
    const st = `${at}.steps[${j}]`;
    if (!step.name) bad(`${st}.name`, "is required");
    else if (stepNames.has(step.name)) bad(`${st}.name`, `"${step.name}" is the name of an earlier step of this scenario`);
    stepNames.add(step.name);
    const scope: TemplateScope = { columns, vars: new Set(vars) };
    const problems: FieldProblem[] = [];
    const template = (text: string, field: string) => {
      const r = compileTemplate(text, field, scope);
      if ("problems" in r) problems.push(...r.problems);
    };
    if (!step.url) bad(`${st}.url`, "is required");
    else if (!/^(https?:\/\/|\/|\{\{)/.test(step.url)) bad(`${st}.url`, `must be an absolute http(s) URL or a path starting with "/", got "${step.url.slice(0, 80)}"`);
    template(step.url, `${st}.url`);
    for (const [name, value] of Object.entries(step.headers)) template(value, `${st}.headers["${name}"]`);
    template(step.body, `${st}.body`);
    const checkNames = new Set<string>();
    step.checks.forEach((c, k) => {
      if (!c.name) bad(`${st}.checks[${k}].name`, "is required");
      else if (checkNames.has(c.name)) bad(`${st}.checks[${k}].name`, `"${c.name}" is the name of an earlier check of this step`);
      checkNames.add(c.name);
      compileCheck(c, `${st}.checks[${k}]`, problems);
    });
    step.captures.forEach((c, k) => {
      if (!VAR_NAME.test(c.name)) bad(`${st}.captures[${k}].name`, `must be letters, digits and "_", not starting with a digit, got "${c.name}"`);
      else if (BUILT_IN_NAMES.has(c.name)) bad(`${st}.captures[${k}].name`, `"${c.name}" is a built-in name`);
      compileCapture(c, `${st}.captures[${k}]`, problems);
      vars.add(c.name);
    });
    const think = step.thinkTime?.kind;
    if (think?.case === "uniform" && think.value.minMs > think.value.maxMs)
      bad(`${st}.think_time.uniform`, `min_ms must not exceed max_ms (${think.value.minMs} > ${think.value.maxMs})`);
    for (const p of problems) bad(p.field, p.problem);
  });
}
