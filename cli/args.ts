/**
 * The command line's flags: one table per command (name, short letter, value, default, help)
 * from which both the parser and `kannon <command> --help` are made. Unlike node's parseArgs it
 * suggests the closest flag on a typo, takes `-5` as a value (so that the flag's own check can
 * say what is wrong with it), and reads durations with units.
 */

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {}

/** One flag of a command. */
export interface FlagDef {
  type: "string" | "boolean";
  /** One letter: `-c 10`. */
  short?: string;
  /** May be given more than once; the values are collected in order. */
  multiple?: boolean;
  /** The value's name in the help (`N`, `URL`, `DURATION`); absent for a boolean. */
  value?: string;
  /** One line of help. */
  help: string;
  /** The default as the help shows it. */
  default?: string;
  /** An older spelling of this flag: its value is stored under that flag's name; not in the help. */
  aliasOf?: string;
}

/** A command's flags by long name. */
export type FlagTable = Readonly<Record<string, FlagDef>>;

/** The parsed values of a {@link FlagTable}: strings, string lists (repeatable) or booleans. */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T as T[K] extends { aliasOf: string } ? never : K]?: T[K] extends { type: "boolean" }
    ? boolean | undefined
    : T[K] extends { multiple: true }
      ? string[] | undefined
      : string | undefined;
};

const NEGATIVE_NUMBER = /^-\d/;

/** Edit distance between two short strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known name closest to `name` when it is close enough to be a typo of it. */
export function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? Math.abs(k.length - name.length) * 0.5 : distance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Parses `argv` against `table`: `--name value`, `--name=value`, `-x value`, `-xvalue`, booleans
 * without a value, `--` ends the flags. Every mistake is a {@link UsageError} naming the flag.
 * `command` names the command in messages (`kannon run`).
 */
export function parseFlags<T extends FlagTable>(
  argv: readonly string[],
  table: T,
  command: string,
  options: { positionals?: number } = {},
): { values: FlagValues<T>; positionals: string[] } {
  const values: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(table).flatMap(([name, def]) => (def.short ? [[def.short, name] as const] : [])));
  const more = `(kannon ${command} --help lists its flags)`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-" || NEGATIVE_NUMBER.test(arg)) {
      if (positionals.length >= (options.positionals ?? 0))
        throw new UsageError(NEGATIVE_NUMBER.test(arg) ? `${arg} follows no flag that takes a value ${more}` : `unexpected argument "${arg}" ${more}`);
      positionals.push(arg);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const given = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (eq !== -1) inline = arg.slice(eq + 1);
      shown = `--${given}`;
      if (!(given in table)) {
        const guess = closest(given, Object.keys(table).filter((k) => !table[k]!.aliasOf));
        throw new UsageError(`unknown flag ${shown}${guess ? `: did you mean --${guess}?` : ""} ${more}`);
      }
      name = given;
    } else {
      shown = arg.slice(0, 2);
      name = byShort.get(arg[1]!);
      if (!name) throw new UsageError(`unknown flag ${shown} ${more}`);
      if (arg.length > 2) inline = arg[2] === "=" ? arg.slice(3) : arg.slice(2);
    }
    const def = table[name]!;
    const key = def.aliasOf ?? name;
    if (def.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`${shown} takes no value, got "${inline}"`);
      values[key] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-" && !NEGATIVE_NUMBER.test(next)))
        throw new UsageError(`${shown} needs a value${def.value ? ` (${def.value})` : ""}`);
      value = next;
      i++;
    }
    if (def.multiple) values[key] = [...((values[key] as string[] | undefined) ?? []), value];
    else values[key] = value;
  }
  return { values: values as FlagValues<T>, positionals };
}

/** A flag's non-negative integer value, or a usage error naming the flag. */
export function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw === "string" && NEGATIVE_NUMBER.test(raw.trim())) throw new UsageError(`--${name} must be a whole number ≥ 0, got "${raw}" (a negative number)`);
  if (!Number.isInteger(n) || n < 0 || String(raw).trim() === "") throw new UsageError(`--${name} must be a whole number ≥ 0, got "${String(raw)}"`);
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)?$/;
const DURATION_MS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag in whole milliseconds: `10s`, `500ms`, `2m`, `1h`, `1.5s`; a plain number is
 * milliseconds (the unit of the older `--…-ms` spellings). A usage error names the flag.
 */
export function durationFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const ms = parseDurationMs(raw);
  if (ms === undefined) throw new UsageError(`--${name} ${durationProblem(raw)}`);
  return ms;
}

/**
 * A duration in whole milliseconds (`10s`, `500ms`, `2m`, `1h`, `1.5s`; a plain number is
 * milliseconds), or undefined when it is not one (or rounds to 0 ms without being 0).
 */
export function parseDurationMs(raw: unknown): number | undefined {
  const m = DURATION.exec(String(raw).trim());
  const ms = m ? Number(m[1]) * DURATION_MS[m[2] ?? "ms"]! : NaN;
  return !m || !Number.isSafeInteger(Math.round(ms)) || (ms > 0 && Math.round(ms) === 0) ? undefined : Math.round(ms);
}

/** What is wrong with a value {@link parseDurationMs} refused, after the name of its field. */
export function durationProblem(raw: unknown): string {
  const negative = NEGATIVE_NUMBER.test(String(raw).trim()) ? " (a negative duration)" : "";
  return `must be a duration such as 10s, 500ms, 2m or 1h (a plain number is milliseconds), got "${String(raw)}"${negative}`;
}
