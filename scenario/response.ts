/**
 * Checks and captures on a response (scenario.proto: Check, Capture), compiled once per step.
 * Evaluation never throws: a body that is not JSON fails a JSONPath check and finds nothing for a
 * JSONPath capture. The body is decoded as UTF-8 and parsed as JSON at most once per response.
 */
import { HeaderOp, JsonPathOp, type Capture, type Check } from "../gen/kannon/v1/scenario_pb.js";
import { compileJsonPath, JsonPathError, queryJson, type Found, type Segment } from "./json-path.js";
import { compileSafeRegex } from "./safe-regex.js";
import type { TemplateProblem as FieldProblem } from "./template.js";

/** The parts of a response that checks and captures read. */
export interface ResponseLike {
  status: number;
  /** Header name (lower case) → value; a header sent several times: its values in order. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  body: Uint8Array;
  /** The step's latency in milliseconds. */
  latencyMs: number;
}

/** One decoder for every response (a decoder per response cost more than the decode of a small body). */
const UTF8 = new TextDecoder();

/** A response with its body decoded and parsed on first use. */
export class ResponseView {
  private textCache: string | undefined;
  private jsonCache: { ok: true; value: unknown } | { ok: false } | undefined;
  constructor(readonly res: ResponseLike) {}

  /** The body as UTF-8 text (malformed sequences become U+FFFD). */
  text(): string {
    return (this.textCache ??= UTF8.decode(this.res.body));
  }

  /** What a query finds in the JSON body; nothing when the body is not JSON. */
  query(path: readonly Segment[]): Found {
    if (!this.jsonCache) {
      try {
        this.jsonCache = { ok: true, value: JSON.parse(this.text()) };
      } catch {
        this.jsonCache = { ok: false };
      }
    }
    return this.jsonCache.ok ? queryJson(path, this.jsonCache.value) : { found: false };
  }

  /** A header's value (several joined with ", "), or undefined when absent. */
  header(name: string): string | undefined {
    const v = this.res.headers[name.toLowerCase()];
    return v === undefined ? undefined : typeof v === "string" ? v : v.join(", ");
  }
}

/** A compiled check: true when it passes. */
export type CompiledCheck = (r: ResponseView) => boolean;
/** A compiled capture: the value, or undefined when it finds nothing. */
export type CompiledCapture = (r: ResponseView) => string | undefined;

/** A found JSON value as text: a string as it is, a number, boolean or null as its JSON text; an object or array: none. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || v === null) return JSON.stringify(v);
  return undefined;
}

const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const numberOf = (s: string): number | undefined => (JSON_NUMBER.test(s) ? Number(s) : undefined);

function jsonPathOf(path: string, field: string, problems: FieldProblem[]): Segment[] | undefined {
  try {
    return compileJsonPath(path);
  } catch (e) {
    if (!(e instanceof JsonPathError)) throw e;
    problems.push({ field, problem: `JSONPath "${path}" ${e.message}` });
    return undefined;
  }
}

function regexOf(pattern: string, field: string, problems: FieldProblem[]): RegExp | undefined {
  const r = compileSafeRegex(pattern);
  if (typeof r === "string") problems.push({ field, problem: `regular expression "${pattern}" ${r}` });
  return typeof r === "string" ? undefined : r;
}

/** Compiles a check at `field` (`spec.scenarios[0].steps[1].checks[2]`); problems are pushed. */
export function compileCheck(check: Check, field: string, problems: FieldProblem[]): CompiledCheck | undefined {
  const k = check.kind;
  switch (k.case) {
    case "status": {
      const { codes, ranges } = k.value;
      if (codes.length === 0 && ranges.length === 0) problems.push({ field: `${field}.status`, problem: "needs at least one code or range" });
      ranges.forEach((r, i) => {
        if (!(r.first >= 100 && r.last <= 599 && r.first <= r.last))
          problems.push({ field: `${field}.status.ranges[${i}]`, problem: `must satisfy 100 <= first <= last <= 599, got ${r.first}..${r.last}` });
      });
      const set = new Set(codes);
      return (r) => set.has(r.res.status) || ranges.some((g) => r.res.status >= g.first && r.res.status <= g.last);
    }
    case "bodyContains": {
      const needle = k.value;
      if (!needle) problems.push({ field: `${field}.body_contains`, problem: "must not be empty" });
      return (r) => r.text().includes(needle);
    }
    case "latencyBelowMs": {
      const bound = k.value;
      if (bound < 1) problems.push({ field: `${field}.latency_below_ms`, problem: "must be at least 1" });
      return (r) => r.res.latencyMs < bound;
    }
    case "header": {
      const { name, op, value } = k.value;
      if (!name) problems.push({ field: `${field}.header.name`, problem: "is required" });
      if (op === HeaderOp.EQUALS) return (r) => r.header(name) === value;
      if (op === HeaderOp.MATCHES) {
        const re = regexOf(value, `${field}.header.value`, problems);
        return (r) => {
          const h = r.header(name);
          return h !== undefined && re !== undefined && re.test(h);
        };
      }
      problems.push({ field: `${field}.header.op`, problem: "must be EQUALS or MATCHES" });
      return undefined;
    }
    case "jsonPath":
      return compileJsonPathCheck(k.value.path, k.value.op, k.value.value, `${field}.json_path`, problems);
    case undefined:
      problems.push({ field, problem: "needs a kind: status, body_contains, json_path, header or latency_below_ms" });
      return undefined;
  }
}

function compileJsonPathCheck(path: string, op: JsonPathOp, value: string, field: string, problems: FieldProblem[]): CompiledCheck | undefined {
  const segs = jsonPathOf(path, `${field}.path`, problems);
  const operand = numberOf(value);
  const test = ((): ((v: unknown) => boolean) | undefined => {
    switch (op) {
      case JsonPathOp.EXISTS:
        return () => true;
      case JsonPathOp.EQUALS:
      case JsonPathOp.NOT_EQUALS: {
        const eq = (v: unknown) => (typeof v === "number" ? v === operand : scalarText(v) === value);
        return op === JsonPathOp.EQUALS ? eq : (v) => !eq(v);
      }
      case JsonPathOp.LESS:
      case JsonPathOp.GREATER:
        if (operand === undefined) problems.push({ field: `${field}.value`, problem: `must be a number for LESS and GREATER, got "${value}"` });
        return op === JsonPathOp.LESS
          ? (v) => typeof v === "number" && operand !== undefined && v < operand
          : (v) => typeof v === "number" && operand !== undefined && v > operand;
      case JsonPathOp.MATCHES: {
        const re = regexOf(value, `${field}.value`, problems);
        return (v) => {
          const t = scalarText(v);
          return t !== undefined && re !== undefined && re.test(t);
        };
      }
      default:
        problems.push({ field: `${field}.op`, problem: "must be EXISTS, EQUALS, NOT_EQUALS, LESS, GREATER or MATCHES" });
        return undefined;
    }
  })();
  if (!segs || !test) return undefined;
  return (r) => {
    const f = r.query(segs);
    return f.found && test(f.value);
  };
}

/** Compiles a capture at `field`; problems are pushed (the name is checked by the spec's validation). */
export function compileCapture(capture: Capture, field: string, problems: FieldProblem[]): CompiledCapture | undefined {
  const s = capture.source;
  switch (s.case) {
    case "jsonPath": {
      const segs = jsonPathOf(s.value, `${field}.json_path`, problems);
      return segs && ((r) => {
        const f = r.query(segs);
        return f.found ? scalarText(f.value) : undefined;
      });
    }
    case "header": {
      const name = s.value;
      if (!name) problems.push({ field: `${field}.header`, problem: "must name a header" });
      return (r) => r.header(name);
    }
    case "regex": {
      const re = regexOf(s.value.pattern, `${field}.regex.pattern`, problems);
      const group = s.value.group;
      const groups = re ? new RegExp(`${re.source}|`, "u").exec("")!.length - 1 : 0;
      if (re && group > groups) problems.push({ field: `${field}.regex.group`, problem: `is ${group}, but the pattern has ${groups} group(s)` });
      return re && ((r) => re.exec(r.text())?.[group] ?? undefined);
    }
    case undefined:
      problems.push({ field, problem: "needs a source: json_path, header or regex" });
      return undefined;
  }
}
