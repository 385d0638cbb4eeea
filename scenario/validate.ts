/**
 * Validation of a test's scenarios and data files (TestSpec.scenarios, data_files): every problem
 * at once, each with its field path: the data files parsed, and the scenarios compiled as a driver
 * compiles them (compile.ts), with the compile's problems collected. The single-request fields
 * are checked by orchestrator/validate.ts.
 */
import type { DataFile } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { MAX_DATA_BYTES, parseDataFile, type DataTable } from "./data.js";
import { compileScenarios } from "./compile.js";
import { UNKNOWN_COLUMNS, type TemplateProblem as FieldProblem } from "./template.js";

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

  if (spec.scenarios.length === 0 && spec.dataFiles.length > 0) bad("spec.data_files", "are read only by scenarios, and the test has none");
  // A file that did not parse has problems of its own: its columns are unknown (any is accepted).
  const columns = (name: string) => {
    const table = tables.get(name);
    return table ? new Set(table.columns) : spec.dataFiles.some((f) => f.name === name) ? UNKNOWN_COLUMNS : undefined;
  };
  problems.push(...compileScenarios(spec, columns).problems);
  return { problems, resourceExhausted, tables };
}

function checkDataFile(f: DataFile, at: string, tables: Map<string, DataTable>, bad: (field: string, problem: string) => void): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(f.name)) bad(`${at}.name`, `must be letters, digits, "_", "-" and ".", got "${f.name}"`);
  else if (tables.has(f.name)) bad(`${at}.name`, `"${f.name}" is the name of an earlier data file`);
  const parsed = parseDataFile(f.format, f.content);
  if (!parsed) bad(`${at}.format`, "is required: CSV or JSON_LINES");
  else if (Array.isArray(parsed)) for (const p of parsed) bad(`${at}.content`, `line ${p.line}: ${p.problem}`);
  else if (!tables.has(f.name)) tables.set(f.name, parsed);
}
