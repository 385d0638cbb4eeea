/** `--out FILE` of `kannon run` and `kannon test`: the run's full report and its thresholds' verdicts, as JSON. */
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { writeFileSync } from "node:fs";
import { ReportSchema } from "../gen/kannon/v1/report_pb.js";
import type { Outcome } from "./run-test.js";
import { verdictOf } from "../metrics/outcome.js";
import { parseThreshold } from "../metrics/thresholds.js";

/**
 * The report as proto JSON (the API's field names) with every field, zeros and empty lists
 * included, plus `thresholds`: one verdict per threshold (`threshold` as written, `metric`, `op`,
 * `limit` and `measured` in `unit`, `pass`, `breachedDuringRun`, and for a window `windowMs`,
 * `windowFromMs`, `windowToMs`: the orchestrator's Outcome.thresholds), `thresholdsPassed`, and
 * `failing` with `failingReasons`: the report's outcome and the failed thresholds together.
 * 64-bit counts (`requests`, `errors`, …) are strings, as in every proto JSON and in
 * `kannon report --format json`: a JSON number is exact only up to 2^53, and one parser reads all
 * three; the verdicts' values are plain numbers.
 */
export function outcomeJson(outcome: Outcome): string {
  const json = toJson(ReportSchema, outcome.report, { alwaysEmitImplicit: true }) as JsonObject;
  json.thresholds = outcome.verdicts.map((v) => {
    const parsed = parseThreshold(v.threshold);
    const t = "threshold" in parsed ? parsed.threshold : undefined;
    return {
      threshold: v.threshold,
      metric: t?.metric ?? "",
      op: t?.op ?? "",
      limit: v.limit,
      measured: v.measured,
      unit: v.unit,
      pass: v.passed,
      breachedDuringRun: v.breachedLive,
      ...(v.windowMs > 0 ? { windowMs: v.windowMs, windowFromMs: Number(v.windowFromMs), windowToMs: Number(v.windowToMs) } : {}),
    };
  });
  json.thresholdsPassed = outcome.failed.length === 0;
  const verdict = verdictOf(outcome.report);
  json.failing = verdict.failing;
  json.failingReasons = verdict.reasons;
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** Writes `text` to `file` when one was asked for (--out), and says so. */
export function writeOut(file: string | undefined, text: string): void {
  if (!file) return;
  writeFileSync(file, text);
  console.log(`kannon: wrote ${file}`);
}
