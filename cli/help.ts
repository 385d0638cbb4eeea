/** The help the CLI prints: the overview (`kannon --help`) and each command's (`kannon run --help`). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FlagTable } from "./args.js";

/** One `kannon` command: its flags (parser and help from the same table) and what it does. */
export interface Command {
  name: string;
  /** What follows `kannon NAME` in the usage line, e.g. `ID [flags]`. */
  usage?: string;
  /** One line for the overview. */
  summary: string;
  flags: FlagTable;
  /** Lines after the flags in the command's help. */
  notes?: string[];
  run(argv: string[]): Promise<number>;
}

/** Exit codes, documented in the README. */
export const EXIT_CODES = "Exit codes: 0 ok, 1 unexpected failure, 2 bad command line, 3 test not completed, 4 requests failed, 5 a driver was lost, 99 a threshold failed (compare: a --max-regression exceeded).";

/** A command's help: usage, every flag with its short letter, value and default, then its notes. */
export function commandHelp(c: Command): string {
  const rows = Object.entries(c.flags)
    .filter(([, d]) => !d.aliasOf)
    .map(([name, d]) => {
      const left = `  ${d.short ? `-${d.short}, ` : "    "}--${name}${d.value ? ` ${d.value}` : ""}`;
      return [left, `${d.help}${d.default !== undefined ? ` (default: ${d.default})` : ""}`] as const;
    });
  rows.push(["  -h, --help", "this help"]);
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  const flags = rows.map(([l, r]) => (l.length >= width ? `${l}\n${" ".repeat(width)}${r}` : `${l.padEnd(width)}${r}`));
  return [`usage: kannon ${c.name} ${c.usage ?? "[flags]"}`, `${c.summary}`, "", "flags:", ...flags, ...(c.notes?.length ? ["", ...c.notes] : [])].join("\n");
}

/** The overview: every command in one line, and where to read more. */
export function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "usage: kannon <command> [flags]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "kannon <command> --help shows a command's flags and defaults; kannon --version its version.",
    "Environment: KANNON_API, KANNON_KAFKA, KANNON_TOPIC_PREFIX, KANNON_KAFKA_PARTITIONS, KANNON_TOKEN, KANNON_DATA, KANNON_ALLOW_TARGETS.",
    EXIT_CODES,
  ].join("\n");
}

/** This Kannon's version, from its package.json (one folder further up in the built package's dist/cli). */
export function version(): string {
  const root = join(import.meta.dirname, "..", import.meta.url.endsWith(".js") ? ".." : "");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return `kannon ${pkg.version} (node ${process.version})`;
}
