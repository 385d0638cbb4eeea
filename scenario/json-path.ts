/**
 * RFC 9535 JSONPath, singular queries only (§2.3.5.1): `$` then name segments (`.name`,
 * `['name']`, `["name"]`) and index segments (`[0]`, `[-1]` from the end). Compiled once; a query
 * finds at most one value.
 */

/** One segment of a compiled query: a member name or an array index. */
export type Segment = { name: string } | { index: number };

/** A compile error with its character position in the query. */
export class JsonPathError extends Error {
  constructor(readonly position: number, problem: string) {
    super(`at character ${position}: ${problem}`);
  }
}

const NAME_FIRST = /[A-Za-z_\u0080-\u{10FFFF}]/u;
const NAME_CHAR = /[A-Za-z0-9_\u0080-\u{10FFFF}]/u;
const BLANK = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", "/": "/", "\\": "\\" };
const MAX_INDEX = 2 ** 53 - 1;

/** Compiles a singular query; throws {@link JsonPathError} naming the position of the first problem. */
export function compileJsonPath(query: string): Segment[] {
  if (query[0] !== "$") throw new JsonPathError(0, 'a query starts with "$"');
  const segments: Segment[] = [];
  let i = 1;
  const skipBlank = () => {
    while (i < query.length && BLANK.has(query[i]!)) i++;
  };
  while (i < query.length) {
    const c = query[i]!;
    if (c === ".") {
      const start = ++i;
      if (query[i] === ".") throw new JsonPathError(i - 1, "descendant segments (..) are not singular");
      const first = query.codePointAt(i);
      if (first === undefined || !NAME_FIRST.test(String.fromCodePoint(first)))
        throw new JsonPathError(i, query[i] === "*" ? "wildcards are not singular" : "expected a member name after \".\"");
      while (i < query.length) {
        const cp = String.fromCodePoint(query.codePointAt(i)!);
        if (!NAME_CHAR.test(cp)) break;
        i += cp.length;
      }
      segments.push({ name: query.slice(start, i) });
    } else if (c === "[") {
      i++;
      skipBlank();
      const q = query[i];
      if (q === "'" || q === '"') segments.push({ name: readString(q) });
      else segments.push({ index: readIndex() });
      skipBlank();
      if (query[i] === ",") throw new JsonPathError(i, "several selectors are not singular");
      if (query[i] !== "]") throw new JsonPathError(i, 'expected "]"');
      i++;
    } else throw new JsonPathError(i, `expected "." or "[", got "${c}"`);
  }
  return segments;

  function readString(quote: string): string {
    const open = i++;
    let out = "";
    while (i < query.length) {
      const c = query[i]!;
      if (c === quote) {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) throw new JsonPathError(i, "control characters must be escaped in a string");
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = query[i + 1];
      if (e === quote) out += quote;
      else if (e !== undefined && e in ESCAPES) out += ESCAPES[e];
      else if (e === "u" && /^[0-9A-Fa-f]{4}$/.test(query.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(query.slice(i + 2, i + 6), 16));
        i += 4;
      } else throw new JsonPathError(i, "invalid escape in a string");
      i += 2;
    }
    throw new JsonPathError(open, "string is never closed");
  }

  function readIndex(): number {
    const m = /^-?(0|[1-9][0-9]*)/.exec(query.slice(i));
    if (!m) throw new JsonPathError(i, query[i] === "*" ? "wildcards are not singular" : "expected a quoted name or an integer index");
    if (m[0] === "-0") throw new JsonPathError(i, "-0 is not an index");
    const value = Number(m[0]);
    if (Math.abs(value) > MAX_INDEX) throw new JsonPathError(i, "index out of the range ±(2^53 - 1)");
    if (query[i + m[0].length] === ":") throw new JsonPathError(i + m[0].length, "slices are not singular");
    i += m[0].length;
    return value;
  }
}

/** What a query found in a JSON value: a value (null included), or nothing. */
export type Found = { found: true; value: unknown } | { found: false };

/** Applies a compiled query to a parsed JSON value. */
export function queryJson(segments: readonly Segment[], root: unknown): Found {
  let v: unknown = root;
  for (const s of segments) {
    if ("name" in s) {
      if (v === null || typeof v !== "object" || Array.isArray(v) || !Object.hasOwn(v, s.name)) return { found: false };
      v = (v as Record<string, unknown>)[s.name];
    } else {
      if (!Array.isArray(v)) return { found: false };
      const at = s.index < 0 ? v.length + s.index : s.index;
      if (at < 0 || at >= v.length) return { found: false };
      v = v[at];
    }
  }
  return { found: true, value: v };
}
