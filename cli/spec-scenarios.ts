/**
 * The `scenarios` and `dataFiles` of a spec file (cli/spec-file.ts), written the way a user thinks
 * of them and mapped to scenario.proto (docs/test-spec.md#scenarios): a status check as
 * `status: [200, "200-299", "2xx"]`, a JSONPath check as `json_path: {path, op, value}`, think time
 * as `200ms` or `{min: 100ms, max: 300ms}`, a body mapping as its JSON, a data file's `path` read
 * (relative to the spec file) into its content by the reader it is given (browser-safe: no Node
 * import; cli/spec-file.ts reads files). Keys in camelCase or snake_case; every problem is
 * named with the field path the orchestrator's validation uses (`spec.scenarios[0].steps[1].url`).
 */
import { create } from "@bufbuild/protobuf";
import {
  CaptureMissing,
  CaptureSchema,
  CheckSchema,
  DataFileSchema,
  DataFormat,
  DataOrder,
  DataSplit,
  HeaderOp,
  JsonPathOp,
  OnExhausted,
  ScenarioSchema,
  StatusRangeSchema,
  StepSchema,
  ThinkTimeSchema,
  type Capture,
  type Check,
  type DataFile,
  type Scenario,
  type Step,
  type StatusRange,
  type ThinkTime,
} from "../gen/kannon/v1/scenario_pb.js";
import { choice, count, flag, kindOf, list, mapping, millis, text, type Bad } from "./spec-fields.js";
import { rpcOfDocument } from "./spec-rpc.js";

export type { Bad };

/** The scenarios of a spec file, mapped to scenario.proto; problems go to `bad`. */
export function scenariosOf(value: unknown, bad: Bad): Scenario[] {
  return list(value, "spec.scenarios", bad).map((raw, i) => {
    const at = `spec.scenarios[${i}]`;
    const s = mapping(raw, at, ["name", "weight", "data_file", "steps"], bad) ?? {};
    return create(ScenarioSchema, {
      name: text(s.name, `${at}.name`, bad),
      // A spec file's scenario without a weight runs (weight 1); the API's default is 0 (never).
      weight: count(s.weight, `${at}.weight`, bad, 1),
      dataFile: text(s.data_file, `${at}.data_file`, bad),
      steps: list(s.steps, `${at}.steps`, bad).map((step, j) => stepOf(step, `${at}.steps[${j}]`, bad)),
    });
  });
}

const STEP_FIELDS = ["name", "method", "url", "headers", "body", "captures", "checks", "think_time", "abort_iteration_on_fail", "on_capture_missing", "rpc"];

function stepOf(raw: unknown, at: string, bad: Bad): Step {
  const s = mapping(raw, at, STEP_FIELDS, bad) ?? {};
  const headers: Record<string, string> = {};
  if (s.headers !== undefined && s.headers !== null) {
    if (typeof s.headers !== "object" || Array.isArray(s.headers)) bad(`${at}.headers`, `must be a mapping of header name to value, got ${kindOf(s.headers)}`);
    else for (const [name, v] of Object.entries(s.headers)) headers[name] = text(v, `${at}.headers["${name}"]`, bad, true);
  }
  let body = "";
  if (typeof s.body === "object" && s.body !== null) {
    // A mapping or list is sent as its JSON (templates inside strings still render).
    body = JSON.stringify(s.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  } else body = text(s.body, `${at}.body`, bad, true);
  return create(StepSchema, {
    name: text(s.name, `${at}.name`, bad),
    method: text(s.method, `${at}.method`, bad).toUpperCase(),
    url: text(s.url, `${at}.url`, bad),
    headers,
    body,
    captures: list(s.captures, `${at}.captures`, bad).map((c, k) => captureOf(c, `${at}.captures[${k}]`, bad)),
    checks: list(s.checks, `${at}.checks`, bad).map((c, k) => checkOf(c, `${at}.checks[${k}]`, bad)),
    ...(s.think_time !== undefined && s.think_time !== null ? { thinkTime: thinkTimeOf(s.think_time, `${at}.think_time`, bad) } : {}),
    ...(s.rpc !== undefined && s.rpc !== null ? { rpc: rpcOfDocument(s.rpc, `${at}.rpc`, bad) } : {}),
    abortIterationOnFail: flag(s.abort_iteration_on_fail, `${at}.abort_iteration_on_fail`, bad),
    onCaptureMissing:
      choice(s.on_capture_missing, `${at}.on_capture_missing`, bad, "CAPTURE_MISSING_", { CONTINUE: CaptureMissing.CONTINUE, ABORT: CaptureMissing.ABORT_ITERATION, ABORT_ITERATION: CaptureMissing.ABORT_ITERATION }) ??
      CaptureMissing.UNSPECIFIED,
  });
}

/** `200ms` (constant), `{min: 100ms, max: 300ms}` (uniform), or proto JSON (`{constantMs}`, `{uniform: {minMs, maxMs}}`). */
function thinkTimeOf(raw: unknown, at: string, bad: Bad): ThinkTime {
  const constant = (ms: number) => create(ThinkTimeSchema, { kind: { case: "constantMs", value: ms } });
  const uniform = (minMs: number, maxMs: number) => create(ThinkTimeSchema, { kind: { case: "uniform", value: { minMs, maxMs } } });
  if (typeof raw === "string" || typeof raw === "number") return constant(millis(raw, at, bad));
  const t = mapping(raw, at, ["min", "max", "constant_ms", "uniform"], bad) ?? {};
  if (t.uniform !== undefined) {
    const u = mapping(t.uniform, `${at}.uniform`, ["min_ms", "max_ms"], bad) ?? {};
    return uniform(count(u.min_ms, `${at}.uniform.min_ms`, bad), count(u.max_ms, `${at}.uniform.max_ms`, bad));
  }
  if (t.constant_ms !== undefined) return constant(count(t.constant_ms, `${at}.constant_ms`, bad));
  if (t.min === undefined || t.max === undefined) bad(at, "needs both min and max (e.g. {min: 100ms, max: 300ms}), or one duration such as 200ms");
  return uniform(t.min === undefined ? 0 : millis(t.min, `${at}.min`, bad), t.max === undefined ? 0 : millis(t.max, `${at}.max`, bad));
}

/** `{name, json_path: $.token}`, `{name, header: location}`, `{name, regex: 'id=(\d+)', group: 1}` or `regex: {pattern, group}`. */
function captureOf(raw: unknown, at: string, bad: Bad): Capture {
  const c = mapping(raw, at, ["name", "json_path", "header", "regex", "group"], bad) ?? {};
  const name = text(c.name, `${at}.name`, bad);
  const given = ["json_path", "header", "regex"].filter((k) => c[k] !== undefined);
  if (given.length !== 1) bad(at, given.length === 0 ? "needs one source: json_path, header or regex" : `has ${given.join(" and ")}: give one source`);
  if (c.group !== undefined && typeof c.regex !== "string") bad(`${at}.group`, "goes with a regex given as text (or inside regex: {pattern, group})");
  if (c.json_path !== undefined) return create(CaptureSchema, { name, source: { case: "jsonPath", value: text(c.json_path, `${at}.json_path`, bad) } });
  if (c.header !== undefined) return create(CaptureSchema, { name, source: { case: "header", value: text(c.header, `${at}.header`, bad) } });
  if (c.regex !== undefined) {
    const r = typeof c.regex === "string" ? { pattern: c.regex, group: c.group } : (mapping(c.regex, `${at}.regex`, ["pattern", "group"], bad) ?? {});
    return create(CaptureSchema, { name, source: { case: "regex", value: { pattern: text(r.pattern, `${at}.regex.pattern`, bad), group: count(r.group, `${at}.regex.group`, bad) } } });
  }
  return create(CaptureSchema, { name });
}

const CHECK_KINDS = ["status", "body_contains", "json_path", "header", "latency_below", "latency_below_ms"];

/** `{name, status: …}`, `{name, body_contains}`, `{name, json_path: {path, op, value}}`, `{name, header: {name, op, value}}`, `{name, latency_below: 200ms}`. */
function checkOf(raw: unknown, at: string, bad: Bad): Check {
  const c = mapping(raw, at, ["name", ...CHECK_KINDS], bad) ?? {};
  const name = text(c.name, `${at}.name`, bad);
  const given = CHECK_KINDS.filter((k) => c[k] !== undefined);
  if (given.length !== 1) {
    bad(at, given.length === 0 ? "needs one kind: status, body_contains, json_path, header or latency_below" : `has ${given.join(" and ")}: give one kind per check`);
    if (given.length === 0) return create(CheckSchema, { name });
  }
  const kind = given[0];
  const v = c[kind!];
  const field = `${at}.${kind}`;
  switch (kind) {
    case "status":
      return create(CheckSchema, { name, kind: { case: "status", value: statusOf(v, field, bad) } });
    case "body_contains":
      return create(CheckSchema, { name, kind: { case: "bodyContains", value: text(v, field, bad) } });
    case "latency_below":
      return create(CheckSchema, { name, kind: { case: "latencyBelowMs", value: millis(v, field, bad) } });
    case "latency_below_ms":
      return create(CheckSchema, { name, kind: { case: "latencyBelowMs", value: count(v, field, bad) } });
    case "json_path": {
      // A bare path checks that it exists; with a value and no op, that it equals the value.
      const j = typeof v === "string" ? { path: v } : (mapping(v, field, ["path", "op", "value"], bad) ?? {});
      const ops = { EXISTS: JsonPathOp.EXISTS, EQUALS: JsonPathOp.EQUALS, NOT_EQUALS: JsonPathOp.NOT_EQUALS, LESS: JsonPathOp.LESS, GREATER: JsonPathOp.GREATER, MATCHES: JsonPathOp.MATCHES };
      const op = choice(j.op, `${field}.op`, bad, "JSON_PATH_OP_", ops) ?? (j.op === undefined ? (j.value === undefined ? JsonPathOp.EXISTS : JsonPathOp.EQUALS) : JsonPathOp.UNSPECIFIED);
      const value = j.value === null ? "null" : text(j.value, `${field}.value`, bad, true);
      return create(CheckSchema, { name, kind: { case: "jsonPath", value: { path: text(j.path, `${field}.path`, bad), op, value } } });
    }
    default: {
      const h = mapping(v, field, ["name", "op", "value"], bad) ?? {};
      const op = choice(h.op, `${field}.op`, bad, "HEADER_OP_", { EQUALS: HeaderOp.EQUALS, MATCHES: HeaderOp.MATCHES }) ?? (h.op === undefined ? HeaderOp.EQUALS : HeaderOp.UNSPECIFIED);
      return create(CheckSchema, { name, kind: { case: "header", value: { name: text(h.name, `${field}.name`, bad), op, value: text(h.value, `${field}.value`, bad, true) } } });
    }
  }
}

/** `200`, `"200-299"`, `"2xx"`, a list of those, or proto JSON `{codes: [...], ranges: [{first, last}]}`. */
function statusOf(raw: unknown, at: string, bad: Bad): { codes: number[]; ranges: StatusRange[] } {
  const codes: number[] = [];
  const ranges: StatusRange[] = [];
  const range = (first: number, last: number) => ranges.push(create(StatusRangeSchema, { first, last }));
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const s = mapping(raw, at, ["codes", "ranges"], bad) ?? {};
    list(s.codes, `${at}.codes`, bad).forEach((c, i) => codes.push(count(c, `${at}.codes[${i}]`, bad)));
    list(s.ranges, `${at}.ranges`, bad).forEach((r, i) => {
      const g = mapping(r, `${at}.ranges[${i}]`, ["first", "last"], bad) ?? {};
      range(count(g.first, `${at}.ranges[${i}].first`, bad), count(g.last, `${at}.ranges[${i}].last`, bad));
    });
    return { codes, ranges };
  }
  const items = Array.isArray(raw) ? raw : [raw];
  items.forEach((item, i) => {
    const field = Array.isArray(raw) ? `${at}[${i}]` : at;
    const t = String(item).trim();
    let m: RegExpExecArray | null;
    if (typeof item === "number" && Number.isInteger(item) && item >= 0) codes.push(item);
    else if (typeof item === "string" && /^\d{3}$/.test(t)) codes.push(Number(t));
    else if (typeof item === "string" && (m = /^(\d{3})\s*-\s*(\d{3})$/.exec(t))) range(Number(m[1]), Number(m[2]));
    else if (typeof item === "string" && (m = /^([1-5])xx$/i.exec(t))) range(Number(m[1]) * 100, Number(m[1]) * 100 + 99);
    else bad(field, `must be a status (200), a range ("200-299" or "2xx"), or a list of them, got ${kindOf(item)}`);
  });
  return { codes, ranges };
}

const FORMAT_OF_EXTENSION: Record<string, DataFormat> = { ".csv": DataFormat.CSV, ".jsonl": DataFormat.JSON_LINES, ".ndjson": DataFormat.JSON_LINES };

/** Reads a data file's `path` as the spec names it; reports a problem with `bad(at, …)` and returns "" when it cannot. */
export type ReadData = (path: string, at: string, bad: Bad) => string;

/** A path's last part (`./data/users.csv` → `users.csv`, "" for a folder `data/`), and its extension (".csv"), without node:path. */
export const fileName = (path: string) => path.split(/[\\/]/).pop() ?? "";
const extensionOf = (path: string) => /\.[^.]*$/.exec(fileName(path))?.[0] ?? "";

/**
 * The data files of a spec file: inline `content`, or a `path` read by `read` (the CLI reads it
 * relative to the spec file, the dashboard among the attached files; `source` keeps the path as written). A file named by path defaults its `name` to
 * the file name without extension and its `format` to its extension's (.csv, .jsonl, .ndjson).
 */
export function dataFilesOf(value: unknown, read: ReadData, bad: Bad): DataFile[] {
  return list(value, "spec.data_files", bad).map((raw, i) => {
    const at = `spec.data_files[${i}]`;
    const d = mapping(raw, at, ["name", "format", "content", "path", "order", "split", "on_exhausted"], bad) ?? {};
    const path = text(d.path, `${at}.path`, bad);
    let content = text(d.content, `${at}.content`, bad);
    if (path && d.content !== undefined) bad(at, "has both content and path: give one");
    else if (!path && d.content === undefined) bad(at, "needs its rows: content (inline) or path (a file, relative to the spec file)");
    else if (path) content = read(path, `${at}.path`, bad);
    const ext = extensionOf(path).toLowerCase();
    const format =
      choice(d.format, `${at}.format`, bad, "DATA_FORMAT_", { CSV: DataFormat.CSV, JSONL: DataFormat.JSON_LINES, JSON_LINES: DataFormat.JSON_LINES, NDJSON: DataFormat.JSON_LINES }) ??
      (d.format === undefined ? FORMAT_OF_EXTENSION[ext] : undefined) ??
      DataFormat.UNSPECIFIED;
    return create(DataFileSchema, {
      name: d.name === undefined && path ? fileName(path).slice(0, fileName(path).length - extensionOf(path).length) : text(d.name, `${at}.name`, bad),
      format,
      content,
      order: choice(d.order, `${at}.order`, bad, "DATA_ORDER_", { SEQUENTIAL: DataOrder.SEQUENTIAL, RANDOM: DataOrder.RANDOM, SHUFFLE: DataOrder.SHUFFLE }) ?? DataOrder.UNSPECIFIED,
      split: choice(d.split, `${at}.split`, bad, "DATA_SPLIT_", { EXCLUSIVE: DataSplit.EXCLUSIVE, WHOLE: DataSplit.WHOLE }) ?? DataSplit.UNSPECIFIED,
      onExhausted: choice(d.on_exhausted, `${at}.on_exhausted`, bad, "ON_EXHAUSTED_", { WRAP: OnExhausted.WRAP, STOP: OnExhausted.STOP }) ?? OnExhausted.UNSPECIFIED,
      source: path,
    });
  });
}
