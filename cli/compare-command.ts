/**
 * `kannon compare BASE CANDIDATE`: two runs side by side (test ids on an orchestrator or in a data
 * directory, or report JSON files), every step's change, and a CI verdict with `--max-regression`.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { existsSync, readFileSync } from "node:fs";
import { ReportSchema, type Report } from "../gen/kannon/v1/report_pb.js";
import { compareHtml } from "../web/compare-html.js";
import {
  changeText,
  compareReports,
  COMPARE_STATS,
  judgeComparison,
  parseRegressionRule,
  regressionLines,
  STAT_KINDS,
  statText,
  type Comparison,
  type Regression,
  type RegressionRule,
} from "../web/compare.js";
import { parseFlags, UsageError } from "./args.js";
import { apiFlags } from "./api-client.js";
import type { Command } from "./help.js";
import { writeOut } from "./out-json.js";
import { EXIT } from "./run-test.js";
import { alignColumns } from "./summary.js";
import { dataFlag, testSource, type TestSource } from "./test-source.js";

const compareFlags = {
  "max-regression": {
    type: "string",
    multiple: true,
    value: "RULE",
    help: "how much a statistic may get worse on the total, any scenario or any step, e.g. 'p99=10%', 'p99=5ms', 'error_rate=0.5pp', 'checks=1pp', 'rps=5%' (repeatable); exit 99 when one is exceeded",
  },
  format: { type: "string", value: "F", help: "table, json or html (one self-contained file)", default: "table" },
  out: { type: "string", short: "o", value: "FILE", help: "write it to FILE", default: "stdout" },
  ...dataFlag,
  ...apiFlags,
} as const;

/** The rules of `--max-regression`; every bad one named at once, as a usage error. */
export function regressionRules(texts: readonly string[]): RegressionRule[] {
  const parsed = texts.map(parseRegressionRule);
  const errors = parsed.flatMap((p) => ("error" in p ? [p.error] : []));
  if (errors.length > 0) throw new UsageError(errors.join("\n"));
  return parsed as RegressionRule[];
}

/** A report JSON file (`kannon report --format json`, `kannon run --out`), read for its cumulative numbers only. */
export function reportFromFile(path: string, side: string): Report {
  let json: Record<string, JsonValue>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, JsonValue>;
  } catch (err) {
    throw new UsageError(`${side} ${path}: not a JSON file (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json) || !("total" in json))
    throw new UsageError(`${side} ${path}: not a Kannon report (no "total"; kannon report ID --format json writes one)`);
  // The interval series is not compared: leaving it out keeps a long run's file quick to read.
  delete json.intervals;
  try {
    return fromJson(ReportSchema, json, { ignoreUnknownFields: true });
  } catch (err) {
    throw new UsageError(`${side} ${path}: not a Kannon report (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Whether a positional names a file rather than a test id. */
const isFile = (arg: string) => existsSync(arg) || /\.json$/i.test(arg) || arg.includes("/");

/** The terminal table: per row, the base, the candidate and the change; a change beyond a rule is marked "!". */
export function compareTable(c: Comparison, regressions: readonly Regression[]): string {
  const head = ["", "", ...COMPARE_STATS.map((s) => STAT_KINDS[s].label)];
  const rows: string[][] = [head];
  for (const row of c.rows) {
    const label = row.kind === "total" ? "total" : `${row.kind} ${row.name}`;
    const regressed = new Set(regressions.filter((r) => r.kind === row.kind && r.row === row.name).map((r) => r.stat));
    rows.push([label, "base", ...row.changes.map((x) => statText(x.stat, x.base))]);
    rows.push(["", "candidate", ...row.changes.map((x) => statText(x.stat, x.candidate))]);
    rows.push(["", "change", ...row.changes.map((x) => `${changeText(x.stat, x.change)}${regressed.has(x.stat) ? " !" : ""}`)]);
  }
  const lines = [
    `base      ${c.base.testId}${c.base.name ? ` "${c.base.name}"` : ""} (${c.base.state})`,
    `candidate ${c.candidate.testId}${c.candidate.name ? ` "${c.candidate.name}"` : ""} (${c.candidate.state})`,
    "",
    ...alignColumns(rows, "", true),
  ];
  if (c.rows.some((r) => r.kind === "scenario")) lines.push("", "A scenario's latency is its iteration duration (think time excluded); its requests are its steps'.");
  if (c.onlyInBase.length) lines.push(`only in base: ${c.onlyInBase.join(", ")}`);
  if (c.onlyInCandidate.length) lines.push(`only in candidate: ${c.onlyInCandidate.join(", ")}`);
  return `${lines.join("\n")}\n`;
}

/** The comparison as JSON: both runs, every row's statistics with base, candidate and change, the rules and the regressions. */
export function compareJson(c: Comparison, rules: readonly RegressionRule[], regressions: readonly Regression[]): string {
  const num = (v: number | undefined) => (v === undefined ? null : Number.isFinite(v) ? v : v > 0 ? "Infinity" : "-Infinity");
  return `${JSON.stringify(
    {
      base: c.base,
      candidate: c.candidate,
      units: { requests: "count", rps: "req/s", error_rate: "fraction (change: fraction points)", checks: "fraction of checks passed (change: fraction points)", latency: "us (change: relative)" },
      rows: c.rows.map((r) => ({ kind: r.kind, name: r.name, stats: Object.fromEntries(r.changes.map((x) => [x.stat, { base: num(x.base), candidate: num(x.candidate), change: num(x.change) }])) })),
      onlyInBase: c.onlyInBase,
      onlyInCandidate: c.onlyInCandidate,
      rules: rules.map((r) => ({ rule: r.text, stat: r.stat, unit: r.unit === "us" ? "us" : r.unit === "pp" ? "fraction points" : "fraction", limit: r.limit })),
      regressions: regressions.map((r) => ({ ...r, worse: num(r.worse) })),
      passed: regressions.length === 0,
    },
    null,
    2,
  )}\n`;
}

/** `kannon compare BASE CANDIDATE [--max-regression RULE]… [--format table|json|html] [--out FILE] [--data DIR | --api URL]`. */
export const compareCommand: Command = {
  name: "compare",
  usage: "BASE CANDIDATE [flags]",
  summary: "two runs side by side, per step: requests, req/s, error rate, checks, p50…max and each change; a CI verdict with --max-regression",
  flags: compareFlags,
  notes: [
    "BASE and CANDIDATE are test ids (on --api, or in --data DIR) or report JSON files (kannon report ID --format json, kannon run --out).",
    "Steps are matched by scenario/step name; those in one run only are listed, not compared.",
    "Exit 0 when no rule is exceeded, 99 when one is, 2 for a bad rule or an unknown test.",
  ],
  async run(argv) {
    const { values, positionals } = parseFlags(argv, compareFlags, "compare", { positionals: 2 });
    if (positionals.length !== 2) throw new UsageError("kannon compare takes two runs: kannon compare BASE CANDIDATE (test ids or report JSON files)");
    const format = values.format ?? "table";
    if (!["table", "json", "html"].includes(format)) throw new UsageError(`--format must be table, json or html, not "${format}"`);
    const rules = regressionRules(values["max-regression"] ?? []);
    let source: TestSource | undefined;
    const load = async (arg: string, side: string): Promise<Report> => {
      if (isFile(arg)) {
        if (!existsSync(arg)) throw new UsageError(`${side} ${arg}: no such file`);
        return reportFromFile(arg, side);
      }
      source ??= testSource(values);
      return source.report(arg);
    };
    try {
      const [base, candidate] = [await load(positionals[0]!, "BASE"), await load(positionals[1]!, "CANDIDATE")];
      const comparison = compareReports(base, candidate);
      const regressions = judgeComparison(comparison, rules);
      const text = format === "json" ? compareJson(comparison, rules, regressions) : format === "html" ? compareHtml(comparison, rules, regressions) : compareTable(comparison, regressions);
      if (values.out) writeOut(values.out, text);
      else process.stdout.write(text);
      // The verdict in words; on stderr when stdout carries the JSON or HTML.
      const say = format === "table" || values.out ? console.log : console.error;
      if (regressions.length > 0) say([`REGRESSED (${regressions.length}):`, ...regressionLines(regressions, rules).map((l) => `  ${l}`)].join("\n"));
      else if (rules.length > 0) say(`no regression beyond ${rules.map((r) => r.text).join(", ")}`);
      return regressions.length > 0 ? EXIT.thresholdFailed : EXIT.ok;
    } finally {
      await source?.close();
    }
  },
};
