/**
 * Regular expressions a driver can run without stalling (catastrophic backtracking). Kannon uses
 * JavaScript's own engine (V8's backtracking irregexp; no native module is needed) and **refuses**
 * the constructs that make it exponential: backreferences, lookaround, and a repeated group that
 * itself holds a quantifier or an alternation (`(a+)+`, `(a|aa)*`, `(\w+\s?)*`). What remains is
 * at worst polynomial in the body's length (`.*a.*a.*b`), which responses of normal size bound.
 * Patterns compile with the `u` flag (strict syntax: a stray `\q` or `{` is an error).
 */

/** Compiles a pattern, or returns why it is refused (with the character position). */
export function compileSafeRegex(pattern: string): RegExp | string {
  const refused = unsafeConstruct(pattern);
  if (refused) return refused;
  try {
    return new RegExp(pattern, "u");
  } catch (e) {
    return `does not compile: ${(e as Error).message}`;
  }
}

interface Group {
  quantified: boolean;
  alternated: boolean;
}

/** Why the pattern could backtrack catastrophically, or undefined. */
function unsafeConstruct(p: string): string | undefined {
  const stack: Group[] = [{ quantified: false, alternated: false }];
  let closed: Group | undefined; // the group that ended just before the current character
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    const justClosed = closed;
    closed = undefined;
    if (c === "\\") {
      const e = p[i + 1];
      if (e !== undefined && /[1-9]/.test(e)) return `backreference at character ${i} is refused (it can backtrack without bound)`;
      if (e === "k") return `named backreference at character ${i} is refused (it can backtrack without bound)`;
      i++;
    } else if (c === "[") {
      for (i++; i < p.length && p[i] !== "]"; i++) if (p[i] === "\\") i++;
    } else if (c === "(") {
      if (/^\(\?<?[=!]/.test(p.slice(i, i + 4))) return `lookaround at character ${i} is refused`;
      stack.push({ quantified: false, alternated: false });
      if (p.startsWith("(?:", i)) i += 2;
      else if (p.startsWith("(?<", i)) i = Math.max(i, p.indexOf(">", i));
    } else if (c === ")") {
      if (stack.length > 1) {
        closed = stack.pop()!;
        const parent = stack[stack.length - 1]!;
        parent.quantified ||= closed.quantified;
      }
    } else if (c === "|") {
      stack[stack.length - 1]!.alternated = true;
    } else if (c === "*" || c === "+" || c === "?" || (c === "{" && /^\{\d+(,\d*)?\}/.test(p.slice(i)))) {
      if (c === "?" && /[*+?}]/.test(p[i - 1] ?? "") && p[i - 2] !== "\\") continue; // lazy suffix
      if (justClosed && (justClosed.quantified || justClosed.alternated))
        return `nested quantifier at character ${i}: a repeated group that holds a quantifier or "|" is refused (catastrophic backtracking)`;
      stack[stack.length - 1]!.quantified = true;
      if (c === "{") i = p.indexOf("}", i);
    }
  }
  return undefined;
}
