import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { DataFile } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { describeProblems, validateSpec, type FieldProblem } from "../orchestrator/validate.js";
import { UsageError } from "./args.js";
import { checkUrl } from "./spec-args.js";
import { dataFilesOf, scenariosOf } from "./spec-scenarios.js";
import { plural } from "./summary.js";

/** A test spec file's content: the spec, and the thresholds it lists. */
export interface SpecFile {
  spec: TestSpec;
  thresholds: string[];
}

/** TestSpec's fields by their proto JSON name and their proto name. */
const FIELDS = new Map(TestSpecSchema.fields.flatMap((f) => [[f.jsonName, f.name] as const, [f.name, f.name] as const]));

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
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`-f ${path}: expected a mapping of TestSpec fields, got ${Array.isArray(doc) ? "a list" : typeof doc}`);
  const { thresholds: rawThresholds, abort, body: rawBody, bodyBase64, body_base64, scenarios: rawScenarios, dataFiles, data_files, ...fields } = doc as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const body = bodyOf(rawBody, bodyBase64 ?? body_base64, problems);
  if (dataFiles !== undefined && data_files !== undefined) bad("spec.data_files", "is given twice (dataFiles and data_files): keep one");
  const scenarios = scenariosOf(rawScenarios, bad);
  const files = dataFilesOf(dataFiles ?? data_files, dirname(path), bad);
  let thresholds: string[] = [];
  if (rawThresholds !== undefined) {
    if (!Array.isArray(rawThresholds) || rawThresholds.some((t) => typeof t !== "string")) problems.push({ field: "thresholds", problem: "must be a list of strings such as 'p99<200ms'" });
    else thresholds = rawThresholds as string[];
  }
  if (abort !== undefined && typeof abort !== "boolean") problems.push({ field: "spec.abort_on_fail", problem: "(abort) must be true or false" });
  const known: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(fields)) {
    const name = FIELDS.get(key);
    if (!name) {
      problems.push({ field: `spec.${key}`, problem: "is not a TestSpec field" });
      continue;
    }
    try {
      fromJson(TestSpecSchema, { [key]: value as JsonValue });
      known[key] = value as JsonValue;
    } catch (err) {
      problems.push({ field: `spec.${name}`, problem: `cannot be read: ${String((err as Error).message).replace(/^cannot decode [^:]*: /, "")}` });
    }
  }
  let spec: TestSpec | undefined;
  try {
    spec = fromJson(TestSpecSchema, known);
  } catch (err) {
    problems.push({ field: "spec", problem: (err as Error).message });
  }
  if (spec && !spec.targetUrl && defaultUrl) spec.targetUrl = defaultUrl;
  if (spec) {
    spec.scenarios = scenarios;
    spec.dataFiles = files;
    spec.thresholds = thresholds;
    if (abort === true) spec.abortOnFail = true;
  }
  if (spec && body) {
    spec.body = body.bytes;
    if (body.json && !Object.keys(spec.headers).some((h) => h.toLowerCase() === "content-type")) spec.headers["content-type"] = "application/json";
  }
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
  return { spec: spec!, thresholds };
}

/** A problem in the rows of a data file read from a path names the file too. */
function withSource(p: FieldProblem, files: readonly DataFile[]): FieldProblem {
  const m = /^spec\.data_files\[(\d+)\]\.content$/.exec(p.field);
  const source = m ? files[Number(m[1])]?.source : undefined;
  return source ? { field: p.field, problem: `${p.problem} (in ${source})` } : p;
}

/**
 * The request body of a spec file (see {@link readSpecFile}); problems are added to `problems`.
 * The proto's `body` is bytes, which proto JSON writes in base64; a file says `bodyBase64` for that.
 */
function bodyOf(body: unknown, base64: unknown, problems: FieldProblem[]): { bytes: Uint8Array; json: boolean } | undefined {
  if (body !== undefined && body !== null && base64 !== undefined) {
    problems.push({ field: "spec.body", problem: "and bodyBase64 are both given: keep one" });
    return undefined;
  }
  if (base64 !== undefined && base64 !== null) {
    if (typeof base64 !== "string" || !/^[A-Za-z0-9+/\s]*={0,2}$/.test(base64)) {
      problems.push({ field: "spec.bodyBase64", problem: "must be base64 text (for a text body, write body: '...')" });
      return undefined;
    }
    return { bytes: new Uint8Array(Buffer.from(base64, "base64")), json: false };
  }
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return { bytes: new TextEncoder().encode(body), json: false };
  return { bytes: new TextEncoder().encode(JSON.stringify(body)), json: true };
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
