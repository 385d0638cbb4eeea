/**
 * Step templates (scenario.proto): `{{row.COLUMN}}`, `{{VAR}}` (a capture), and the built-ins
 * `{{uuid}}`, `{{randInt A B}}`, `{{driverId}}`, `{{iteration}}`, `{{nowMs}}`. A template is compiled
 * once into literal parts and slots, so rendering only concatenates.
 */

/** One slot of a compiled template. */
export type Slot =
  | { kind: "row"; column: string }
  | { kind: "var"; name: string }
  | { kind: "uuid" }
  | { kind: "randInt"; min: number; max: number }
  | { kind: "driverId" }
  | { kind: "iteration" }
  | { kind: "nowMs" };

/** A compiled template: `literals[0] slot[0] literals[1] … slot[n-1] literals[n]`. */
export interface Template {
  literals: string[];
  slots: Slot[];
}

/** A compile error: the field it is in, and the problem with its character position. */
export interface TemplateProblem {
  field: string;
  problem: string;
}

/** The names a template may use at its place in the spec. */
export interface TemplateScope {
  /**
   * Columns of the scenario's data file; undefined: the scenario has no data file;
   * {@link UNKNOWN_COLUMNS}: its columns are unknown (the file has problems of its own, or is
   * missing) and any column is accepted, so that those problems are not repeated at every row slot.
   */
  columns?: ReadonlySet<string> | undefined;
  /** Variables captured by earlier steps of the same scenario. */
  vars: ReadonlySet<string>;
}

/** The columns of a data file whose columns are unknown (TemplateScope.columns): every {{row.X}} passes. */
export const UNKNOWN_COLUMNS: ReadonlySet<string> = new Set<string>();

/** Names a capture may not take. */
export const BUILT_IN_NAMES: ReadonlySet<string> = new Set(["uuid", "randInt", "driverId", "iteration", "nowMs", "row"]);
/** A variable (capture) name. */
export const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INT = /^-?(0|[1-9][0-9]*)$/;

/** Compiles `text`; every problem is returned (with `field`), or the template when there is none. */
export function compileTemplate(text: string, field: string, scope: TemplateScope): { template: Template } | { problems: TemplateProblem[] } {
  const literals: string[] = [];
  const slots: Slot[] = [];
  const problems: TemplateProblem[] = [];
  let from = 0;
  for (;;) {
    const open = text.indexOf("{{", from);
    if (open < 0) break;
    const close = text.indexOf("}}", open + 2);
    if (close < 0) {
      problems.push({ field, problem: `"{{" at character ${open} is never closed by "}}"` });
      break;
    }
    literals.push(text.slice(from, open));
    const inner = text.slice(open + 2, close).trim();
    const slot = slotOf(inner, scope);
    if (typeof slot === "string") problems.push({ field, problem: `{{${inner}}} at character ${open}: ${slot}` });
    else slots.push(slot);
    from = close + 2;
  }
  literals.push(text.slice(from));
  return problems.length > 0 ? { problems } : { template: { literals, slots } };
}

function slotOf(inner: string, scope: TemplateScope): Slot | string {
  const words = inner.split(/\s+/);
  const head = words[0] ?? "";
  if (head === "randInt") {
    if (words.length !== 3 || !INT.test(words[1]!) || !INT.test(words[2]!)) return "randInt takes two integers: {{randInt 1 100}}";
    const min = Number(words[1]);
    const max = Number(words[2]);
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) return "randInt bounds must be safe integers (at most 2^53 - 1)";
    if (min > max) return `randInt's first bound must not exceed its second (${min} > ${max})`;
    return { kind: "randInt", min, max };
  }
  if (words.length !== 1 || head === "") return "a slot holds one name (or randInt A B)";
  if (head === "uuid" || head === "driverId" || head === "iteration" || head === "nowMs") return { kind: head };
  if (head.startsWith("row.")) {
    const column = head.slice(4);
    if (!scope.columns) return "the scenario has no data_file, so there is no row";
    if (scope.columns !== UNKNOWN_COLUMNS && !scope.columns.has(column)) return `the data file has no column "${column}" (it has ${[...scope.columns].map((c) => `"${c}"`).join(", ") || "none"})`;
    return { kind: "row", column };
  }
  if (!VAR_NAME.test(head)) return `"${head}" is not a name`;
  if (!scope.vars.has(head)) return `unknown name "${head}": not a built-in (uuid, randInt, driverId, iteration, nowMs), row.COLUMN, or a capture of an earlier step`;
  return { kind: "var", name: head };
}

/** What a render reads: the iteration's row and captures, and the sources of built-in values. */
export interface RenderContext {
  row?: Readonly<Record<string, string>> | undefined;
  vars: ReadonlyMap<string, string>;
  driverId: string;
  iteration: number;
  nowMs(): number;
  uuid(): string;
  /** A uniform integer in [min, max]. */
  randInt(min: number, max: number): number;
}

/** The template's text for one request (a missing capture renders as the empty string). */
export function renderTemplate(t: Template, ctx: RenderContext): string {
  let out = t.literals[0]!;
  for (let i = 0; i < t.slots.length; i++) {
    out += slotValue(t.slots[i]!, ctx);
    out += t.literals[i + 1]!;
  }
  return out;
}

function slotValue(s: Slot, ctx: RenderContext): string {
  switch (s.kind) {
    case "row":
      return ctx.row?.[s.column] ?? "";
    case "var":
      return ctx.vars.get(s.name) ?? "";
    case "uuid":
      return ctx.uuid();
    case "randInt":
      return String(ctx.randInt(s.min, s.max));
    case "driverId":
      return ctx.driverId;
    case "iteration":
      return String(ctx.iteration);
    case "nowMs":
      return String(ctx.nowMs());
  }
}

/** True when the template has no slot (its text is `literals[0]`): such a request can be built once. */
export function isConstant(t: Template): boolean {
  return t.slots.length === 0;
}
