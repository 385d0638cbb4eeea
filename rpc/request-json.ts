/**
 * Whether an RPC's request JSON fits its input message (protobuf's JSON mapping, read by
 * @bufbuild/protobuf): every problem with the field path it is at. A step's request JSON is a
 * template: {@link sampleJson} renders its slots as a sample that fits any scalar, so the fields
 * around them are still checked.
 */
import { fromJson, fromJsonString, type DescField, type DescMessage, type DescMethod, type JsonValue, type Registry } from "@bufbuild/protobuf";
import type { Template } from "../scenario/template.js";

/** What a slot renders as in {@link sampleJson}: a value known only at run time, never checked. */
const SLOT = "\uE000slot\uE000";

/**
 * The template with each slot rendered as a sample: inside a JSON string the sample text, outside
 * one a JSON string of it (a bare `{{randInt 1 9}}` stays valid JSON). {@link requestProblems}
 * accepts a sample wherever a scalar, enum or well-known value goes.
 */
export function sampleJson(template: Template): string {
  let out = template.literals[0] ?? "";
  let inString = false;
  let escaped = false;
  const scan = (text: string) => {
    for (const c of text) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = inString;
      else if (c === '"') inString = !inString;
    }
  };
  scan(out);
  for (let i = 0; i < template.slots.length; i++) {
    out += inString ? SLOT : JSON.stringify(SLOT);
    const literal = template.literals[i + 1] ?? "";
    scan(literal);
    out += literal;
  }
  return out;
}

/** Messages whose JSON is not an object of their fields (protobuf's JSON mapping): checked whole. */
const SPECIAL_JSON = new Set(
  ["Any", "Timestamp", "Duration", "FieldMask", "Struct", "Value", "ListValue", "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"].map(
    (n) => `google.protobuf.${n}`,
  ),
);

/**
 * The problems of `json` as `method`'s input message, each `path: problem` (the path as the JSON
 * names it, `items[2].id`; the message itself is `(request)`). Empty text is the empty message.
 * `registry` resolves google.protobuf.Any type URLs.
 */
export function requestProblems(method: DescMethod, json: string, registry?: Registry): string[] {
  if (json.trim() === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return [`(request): is not JSON: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  const options = registry ? { registry } : {};
  if (SPECIAL_JSON.has(method.input.typeName)) {
    if (!json.includes(SLOT)) leaf(() => fromJsonString(method.input, json, options), "(request)", problems);
    return problems;
  }
  walk(method.input, value, "", problems, options);
  // What the walk does not see (none so far): the whole message as protobuf-es reads it.
  if (problems.length === 0 && !json.includes(SLOT)) leaf(() => fromJsonString(method.input, json, options), "(request)", problems);
  return problems;
}

type Options = { registry?: Registry };

function walk(desc: DescMessage, value: unknown, path: string, problems: string[], options: Options): void {
  if (value === null || value === SLOT) return;
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.push(`${path || "(request)"}: expected a JSON object (${desc.typeName}), got ${shown(value)}`);
    return;
  }
  const seen = new Map<number, string>();
  const oneofs = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key.includes(SLOT)) continue;
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      problems.push(`${at}: ${desc.typeName} has no such field (it has ${desc.fields.map((f) => f.jsonName).join(", ") || "none"})`);
      continue;
    }
    const earlier = seen.get(field.number);
    if (earlier !== undefined) problems.push(`${at}: the field is also set as "${earlier}"`);
    seen.set(field.number, key);
    if (field.oneof && v !== null) {
      const other = oneofs.get(field.oneof.name);
      if (other !== undefined) problems.push(`${at}: "${other}" is already set, and both are in oneof ${field.oneof.name}`);
      oneofs.set(field.oneof.name, key);
    }
    checkField(desc, field, key, v, at, problems, options);
  }
}

function checkField(desc: DescMessage, field: DescField, key: string, v: unknown, at: string, problems: string[], options: Options): void {
  if (v === null || v === SLOT) return;
  const one = (value: unknown, path: string, shownValue: unknown = value) => leaf(() => fromJson(desc, { [key]: value as JsonValue }, options), path, problems, shownValue);
  const element = (message: DescMessage | undefined, value: unknown, path: string, wrap: (x: unknown) => unknown) => {
    if (message && !SPECIAL_JSON.has(message.typeName)) walk(message, value, path, problems, options);
    else if (!(typeof value === "string" && value.includes(SLOT))) one(wrap(value), path, value);
  };
  switch (field.fieldKind) {
    case "message":
      return element(field.message, v, at, (x) => x);
    case "list":
      if (!Array.isArray(v)) return one(v, at);
      return v.forEach((x, i) => element(field.message, x, `${at}[${i}]`, (y) => [y]));
    case "map":
      if (typeof v !== "object" || Array.isArray(v)) return one(v, at);
      for (const [k, x] of Object.entries(v as object)) {
        if (k.includes(SLOT)) continue;
        element(field.message, x, `${at}["${k}"]`, (y) => ({ [k]: y }));
      }
      return;
    default:
      if (typeof v === "string" && v.includes(SLOT)) return;
      if (field.fieldKind === "enum" && typeof v === "string" && !field.enum.values.some((e) => e.name === v))
        return void problems.push(`${at}: "${v}" is not a value of ${field.enum.typeName} (${field.enum.values.map((e) => e.name).join(", ")})`);
      return one(v, at);
  }
}

/** Runs a read by protobuf-es; its error becomes a problem at `path` without the library's preamble. */
function leaf(read: () => unknown, path: string, problems: string[], value?: unknown): void {
  try {
    read();
  } catch (err) {
    let text = (err as Error).message.replace(/^cannot decode [a-z]+ \S+ from JSON: (list item #\d+: |map entry "[^"]*": )?/, "");
    // protobuf-es shows an array or object as "Array(1)" or "Object": show the JSON itself.
    if (value !== undefined && typeof value === "object") text = text.replace(/, got (Array\(\d+\)|Object)$/, `, got ${shown(value)}`);
    problems.push(`${path}: ${text}`);
  }
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
