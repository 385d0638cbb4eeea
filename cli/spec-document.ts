/**
 * A spec file's document (parsed YAML or JSON) as a TestSpec, browser-safe (no Node import): the
 * TestSpec fields by their proto JSON names or proto names, `thresholds`, `abort`, the body as the
 * user thinks of it, and the `scenarios` and `dataFiles` of cli/spec-scenarios.ts (a data file's
 * `path` read by `read`), `http.tls`'s `ca`/`cert`/`key` files read by `read` too
 * (cli/spec-tls.ts), and `rpc` and `schema` of cli/spec-rpc.ts (a schema file's image is filled
 * afterwards by its withSchemaImage). Used by `kannon run|test -f` (cli/spec-file.ts: files
 * relative to the spec file; it also validates) and by the dashboard's spec editor (web/spec-editor.ts:
 * the attached files of web/attached-files.ts; its server validates). Problems are added to
 * `problems`, each named by the field path the orchestrator's validation uses.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { rpcOfDocument, schemaOfDocument } from "./spec-rpc.js";
import { dataFilesOf, scenariosOf, type ReadData } from "./spec-scenarios.js";
import { httpOfDocument } from "./spec-http.js";
import { httpWithTlsFiles } from "./spec-tls.js";

/** A problem of a field, named by its path (orchestrator/validate.ts FieldProblem's shape). */
type FieldProblem = { field: string; problem: string };

/** TestSpec's fields by their proto JSON name and their proto name. */
const FIELDS = new Map(TestSpecSchema.fields.flatMap((f) => [[f.jsonName, f.name] as const, [f.name, f.name] as const]));

/** The spec of a document; undefined when it cannot be built (its problems say why). */
export function specOfDocument(doc: unknown, read: ReadData, problems: FieldProblem[], defaultUrl?: string): TestSpec | undefined {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    problems.push({ field: "spec", problem: `expected a mapping of TestSpec fields, got ${Array.isArray(doc) ? "a list" : typeof doc}` });
    return undefined;
  }
  const { thresholds: rawThresholds, abort, body: rawBody, bodyBase64, body_base64, scenarios: rawScenarios, dataFiles, data_files, http: rawHttp, rpc: rawRpc, schema, ...fields } = doc as Record<string, unknown>;
  const bad = (field: string, problem: string) => problems.push({ field, problem });
  const body = bodyOf(rawBody, bodyBase64 ?? body_base64, problems);
  if (dataFiles !== undefined && data_files !== undefined) bad("spec.data_files", "is given twice (dataFiles and data_files): keep one");
  const scenarios = scenariosOf(rawScenarios, bad);
  const files = dataFilesOf(dataFiles ?? data_files, read, bad);
  const http = httpOfDocument(httpWithTlsFiles(rawHttp, read, bad), bad);
  const rpc = rawRpc === undefined || rawRpc === null ? undefined : rpcOfDocument(rawRpc, "spec.rpc", bad);
  const rpcSchema = schemaOfDocument(schema, bad);
  if (rpcSchema && (fields.rpcSchema !== undefined || fields.rpc_schema !== undefined)) bad("spec.rpc_schema", "is given twice (schema and rpcSchema): keep one");
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
    if (http) spec.http = http;
    if (rpc) spec.rpc = rpc;
    if (rpcSchema) spec.rpcSchema = rpcSchema;
    if (abort === true) spec.abortOnFail = true;
  }
  if (spec && body) {
    spec.body = body.bytes;
    if (body.json && !Object.keys(spec.headers).some((h) => h.toLowerCase() === "content-type")) spec.headers["content-type"] = "application/json";
  }
  return spec;
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
    return { bytes: Uint8Array.from(atob(base64.replace(/\s/g, "")), (c) => c.charCodeAt(0)), json: false };
  }
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return { bytes: new TextEncoder().encode(body), json: false };
  return { bytes: new TextEncoder().encode(JSON.stringify(body)), json: true };
}

