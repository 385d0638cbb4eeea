import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { DataFile } from "../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { loadSchemaFile } from "./schema-file.js";
import { describeProblems, validateSpec, type FieldProblem } from "../orchestrator/validate.js";
import { UsageError } from "./args.js";
import { checkUrl } from "./spec-args.js";
import { specOfDocument } from "./spec-document.js";
import { withSchemaImage } from "./spec-rpc.js";
import type { Bad, ReadData } from "./spec-scenarios.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";
import { plural } from "./summary.js";

/** A test spec file's content: the spec, and the thresholds it lists. */
export interface SpecFile {
  spec: TestSpec;
  thresholds: string[];
}


/**
 * Reads a test spec from a YAML or JSON file: the TestSpec fields by their proto JSON names
 * (`targetUrl`, `avalanche: {concurrency, durationMs}`, …; snake_case works too), plus
 * `thresholds: ["p99<200ms", "p99{step:login}[30s]<300ms", …]` (TestSpec.thresholds) and
 * `abort: true` (TestSpec.abort_on_fail; `abortOnFail` works too). Every problem is listed with its field, in one usage error
 * (exit 2): unknown fields, wrong types, and what the orchestrator's validation would refuse.
 * The body is written as the user thinks of it: `body: 'text'` is sent as its UTF-8 bytes, a
 * mapping or list (`body: {a: 1}`) as its JSON (with `content-type: application/json` unless a
 * header sets it), and bytes that are not text as `bodyBase64: …`.
 * `scenarios` and `dataFiles` take the shapes of cli/spec-scenarios.ts (a data file's `path` is read
 * relative to the spec file).
 * `defaultUrl` fills a missing target URL (the embedded fleet's own target).
 */
export function readSpecFile(path: string, defaultUrl?: string): SpecFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`-f ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
    throw new UsageError(`-f ${path}: not YAML or JSON${where}: ${(err as Error).message.split("\n")[0]}`);
  }
  const problems: FieldProblem[] = [];
  const spec = specOfDocument(doc, fileReader(dirname(path)), problems, defaultUrl);
  if (spec) withSchemaImage(spec, (origin) => loadSchemaFile(resolve(dirname(path), origin)), problems);
  const files = spec?.dataFiles ?? [];
  // What the orchestrator would refuse too, except for fields already named as unreadable.
  const named = problems.map((p) => p.field);
  const url = spec?.targetUrl ? urlProblem(spec.targetUrl) : undefined;
  if (url) problems.push(url);
  if (spec)
    problems.push(
      ...validateSpec(spec)
        .filter((p) => !(url && p.field === url.field) && !named.some((f) => p.field === f || p.field.startsWith(`${f}.`) || (f !== "spec" && p.field === "spec.workload")))
        .map((p) => withSource(p, files)),
    );
  if (problems.length > 0) throw new UsageError(`-f ${path}: ${plural(problems.length, "problem")}: ${describeProblems(problems)}`);
  return { spec: spec!, thresholds: spec!.thresholds };
}

/** A problem in the rows of a data file read from a path names the file too. */
function withSource(p: FieldProblem, files: readonly DataFile[]): FieldProblem {
  const m = /^spec\.data_files\[(\d+)\]\.content$/.exec(p.field);
  const source = m ? files[Number(m[1])]?.source : undefined;
  return source ? { field: p.field, problem: `${p.problem} (in ${source})` } : p;
}

/** Reads a spec file's data file paths relative to `baseDir` (the spec file's folder). */
export const fileReader =
  (baseDir: string): ReadData =>
  (file, at, bad) =>
    readData(resolve(baseDir, file), at, bad);

/** A data file's text; a file over the per-test limit is refused before it is read. */
function readData(file: string, at: string, bad: Bad): string {
  try {
    const size = statSync(file).size;
    if (size > MAX_DATA_BYTES) {
      bad(at, `"${file}" holds ${size} bytes, above the limit of ${MAX_DATA_BYTES} bytes (200 MB) per test`);
      return "";
    }
    return readFileSync(file, "utf8");
  } catch (err) {
    bad(at, `cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return "";
  }
}

/** A target URL without its scheme (`localhost:8080`), with the fix, as a problem of `spec.target_url`. */
function urlProblem(url: string): FieldProblem | undefined {
  try {
    checkUrl(url, "");
    return undefined;
  } catch (err) {
    return { field: "spec.target_url", problem: (err as Error).message.trim() };
  }
}
