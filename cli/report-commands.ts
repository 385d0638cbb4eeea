/** `kannon report ID` and `kannon tests`: stored tests, from a data directory or a running orchestrator. */
import { TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { percentileDistribution } from "../metrics/histogram.js";
import { intFlag, parseFlags, UsageError } from "./args.js";
import { apiFlags } from "./api-client.js";
import { intervalsCsv, reportHtml, reportJson } from "../web/exports.js";
import type { Command } from "./help.js";
import { writeOut } from "./out-json.js";
import { EXIT } from "./run-test.js";
import { alignColumns } from "./summary.js";
import { dataFlag, testSource } from "./test-source.js";

const reportFlags = {
  format: { type: "string", value: "F", help: "json (the full report), csv (one row per interval, every interval) or html (one self-contained file with charts and tables)", default: "json" },
  out: { type: "string", short: "o", value: "FILE", help: "write it to FILE", default: "stdout" },
  ...dataFlag,
  ...apiFlags,
} as const;

/** `kannon report ID --format json|csv|html [--out FILE] [--data DIR | --api URL]`: exports a stored report. */
export const reportCommand: Command = {
  name: "report",
  usage: "ID [flags]",
  summary: "a stored test's report, as JSON, CSV or HTML",
  flags: reportFlags,
  notes: ["The test ids: kannon tests (with the same --data or --api)."],
  async run(argv) {
    const { values, positionals } = parseFlags(argv, reportFlags, "report", { positionals: 1 });
    const id = positionals[0];
    if (!id) throw new UsageError("kannon report takes one test id: kannon report ID [--data DIR | --api URL] --format json|csv|html [--out FILE]");
    const format = values.format ?? "json";
    if (!["json", "csv", "html"].includes(format)) throw new UsageError(`--format must be json, csv or html, not "${format}"`);
    const source = testSource(values);
    try {
      const report = await source.report(id);
      const text = format === "json" ? reportJson(report) : format === "html" ? reportHtml(report, report.intervals, { distribution: percentileDistribution(report.total?.latency?.histogram) }) : intervalsCsv(await source.intervals(id));
      if (values.out) writeOut(values.out, text);
      else process.stdout.write(text);
      return EXIT.ok;
    } finally {
      await source.close();
    }
  },
};

const testsFlags = { limit: { type: "string", value: "N", help: "the newest N tests", default: "20" }, ...dataFlag, ...apiFlags } as const;

const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(0)} s`);

/** `kannon tests [--data DIR | --api URL]`: the stored tests, newest first, with their totals. */
export const testsCommand: Command = {
  name: "tests",
  summary: "the stored tests, newest first: id, state, start, duration, requests, errors, name",
  flags: testsFlags,
  notes: ["Export one with kannon report ID (with the same --data or --api)."],
  async run(argv) {
    const { values } = parseFlags(argv, testsFlags, "tests");
    const limit = intFlag(values, "limit", 20);
    if (limit < 1) throw new UsageError("--limit must be at least 1");
    const source = testSource(values);
    try {
      const tests = await source.tests(limit);
      if (tests.length === 0) {
        console.log(`kannon: no tests stored${source.flag ? ` (${source.flag})` : ""}`);
        return EXIT.ok;
      }
      const rows = [["ID", "STATE", "STARTED", "DURATION", "REQUESTS", "ERRORS", "NAME"]];
      for (const t of tests) {
        const total = await source.report(t.id).then((r) => r.total, () => undefined);
        const errorRate = total && total.requests > 0n ? ` (${((Number(total.errors) / Number(total.requests)) * 100).toFixed(1)}%)` : "";
        rows.push([
          t.id,
          TestState[t.state] + (t.partial ? " (partial)" : "") + (t.outcome?.verdict === Verdict.FAILING ? ", FAILING" : ""),
          t.startAt ? new Date(msOf(t.startAt)).toISOString().replace(/\.\d+Z$/, "Z") : "–",
          t.startAt && t.endedAt ? seconds(msOf(t.endedAt) - msOf(t.startAt)) : "–",
          total ? String(total.requests) : "–",
          total ? `${total.errors}${errorRate}` : "–",
          t.spec?.name ?? "",
        ]);
      }
      for (const line of alignColumns(rows)) console.log(line);
      console.log(`\n${["kannon report ID", source.flag, "--format json|csv|html"].filter(Boolean).join(" ")} exports one.`);
      return EXIT.ok;
    } finally {
      await source.close();
    }
  },
};
