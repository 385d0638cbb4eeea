/**
 * Readers of a spec file's fields as the user writes them (cli/spec-scenarios.ts, cli/spec-rpc.ts),
 * browser-safe: each reports a problem through `bad`, named by the field path the orchestrator's
 * validation uses, and returns a fallback.
 */
import { durationProblem, parseDurationMs } from "./args.js";

/** Records one problem of a field. */
export type Bad = (field: string, problem: string) => void;

/** The longest pause a think time may ask for: what one Node timer can wait. */
const MAX_THINK_MS = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** A value's kind as a problem names it: null, a list, a mapping, or the scalar with its JSON. */
export const kindOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "a mapping" : `${typeof v} ${JSON.stringify(v)}`);

/** A mapping's members by snake_case name; a key it does not know, or a key given twice, is a problem. */
export function mapping(value: unknown, at: string, known: readonly string[], bad: Bad): Record<string, unknown> | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    bad(at, `must be a mapping (${known.join(", ")}), got ${kindOf(value)}`);
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = snake(key);
    if (!known.includes(name)) bad(`${at}.${key}`, `is not a field here (${known.join(", ")})`);
    else if (name in out) bad(`${at}.${name}`, "is given twice (in camelCase and snake_case)");
    else out[name] = v;
  }
  return out;
}

/** A list's items (absent: none). */
export function list(value: unknown, at: string, bad: Bad): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    bad(at, `must be a list, got ${kindOf(value)}`);
    return [];
  }
  return value;
}

/** Text; `scalars` lets a number or boolean stand for its text (a header value, a JSON operand). */
export function text(value: unknown, at: string, bad: Bad, scalars = false): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (scalars && (typeof value === "number" || typeof value === "boolean")) return String(value);
  bad(at, `must be text, got ${kindOf(value)}`);
  return "";
}

/** A whole number from 0 to 2³²−1. */
export function count(value: unknown, at: string, bad: Bad, fallback = 0): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= UINT32_MAX) return value;
  bad(at, `must be a whole number ≥ 0, got ${kindOf(value)}`);
  return fallback;
}

/** true or false. */
export function flag(value: unknown, at: string, bad: Bad): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === "boolean") return value;
  bad(at, `must be true or false, got ${kindOf(value)}`);
  return false;
}

/** Milliseconds from a duration (`200ms`, `1.5s`, a plain number of ms). */
export function millis(value: unknown, at: string, bad: Bad): number {
  const ms = typeof value === "string" || typeof value === "number" ? parseDurationMs(value) : undefined;
  if (ms === undefined) bad(at, durationProblem(value));
  else if (ms > MAX_THINK_MS) bad(at, `must be at most ${MAX_THINK_MS} ms`);
  return ms ?? 0;
}

/**
 * An enum value by its short name, case-insensitive (`shuffle`, `not-equals`), or by its proto
 * name (`DATA_ORDER_SHUFFLE`); `names` maps the short names (upper case) to values.
 */
export function choice<T extends number>(value: unknown, at: string, bad: Bad, prefix: string, names: Record<string, T>): T | undefined {
  if (value === undefined || value === null) return undefined;
  const key = String(value).trim().toUpperCase().replace(/[- ]/g, "_");
  const found = typeof value === "string" ? names[key.startsWith(prefix) ? key.slice(prefix.length) : key] : undefined;
  if (found === undefined) bad(at, `must be one of ${Object.keys(names).map((n) => n.toLowerCase()).join(", ")}, got ${kindOf(value)}`);
  return found;
}

