/**
 * Exports of a stored report, from the CLI as a process: `kannon run --out` (JSON), and
 * `kannon report ID --format json|csv|html` against a running orchestrator: JSON and CSV parse and
 * match the report; the HTML is one self-contained file holding the charts' data.
 */
import { equals, fromJsonString, toJson } from "@bufbuild/protobuf";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { ReportSchema } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, runToEnd, spec, type OrchestratorClient } from "./helpers.js";
import { runKannon } from "./processes.js";

const kannon = runKannon;

/** Where two reports' JSON differ (for a failure message). */
function diff(a: Parameters<typeof toJson<typeof ReportSchema>>[1], b: Parameters<typeof toJson<typeof ReportSchema>>[1]): string[] {
  const ja = JSON.stringify(toJson(ReportSchema, a));
  const jb = JSON.stringify(toJson(ReportSchema, b));
  let i = 0;
  while (i < ja.length && ja[i] === jb[i]) i++;
  return [ja.slice(Math.max(0, i - 80), i + 80), jb.slice(Math.max(0, i - 80), i + 80)];
}

describe("report exports", () => {
  let dir: string;
  let fleet: Embedded;
  let client: OrchestratorClient;
  let id: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-exports-"));
    fleet = await startEmbedded({ drivers: 2 });
    client = grpcClient(fleet.server.url);
    ({ id } = await runToEnd(
      client,
      spec({ targetUrl: `${fleet.target!.url}/ping`, reportIntervalMs: 200, workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 1500 } } } }),
    ));
  });
  afterAll(async () => {
    await fleet?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("json: the full report as proto JSON, equal to GetReport's", async () => {
    const file = join(dir, "r.json");
    const r = await kannon(["report", id, "--api", fleet.server.url, "--format", "json", "--out", file]);
    expect(r.code, r.out).toBe(0);
    const parsed = fromJsonString(ReportSchema, await readFile(file, "utf8"));
    const served = (await client.getReport({ testId: id })).report!;
    expect(equals(ReportSchema, parsed, served), JSON.stringify(diff(parsed, served))).toBe(true);
  });

  it("csv: one row per interval, summing to the total", async () => {
    const r = await kannon(["report", id, "--api", fleet.server.url, "--format", "csv"]);
    expect(r.code, r.out).toBe(0);
    const [header, ...rows] = r.out.trim().split("\n");
    expect(header).toMatch(/^interval,start,end,requests,requests_per_s,errors,/);
    const report = (await client.getReport({ testId: id })).report!;
    expect(rows).toHaveLength(report.intervalCount);
    const col = header!.split(",").indexOf("requests");
    expect(rows.reduce((s, row) => s + Number(row.split(",")[col]), 0)).toBe(Number(report.total!.requests));
    expect(rows.map((row) => Number(row.split(",")[0]))).toEqual(rows.map((_, i) => i));
  });

  it("html: one self-contained file (no script or style from anywhere) with the charts, the tables and the charts' data", async () => {
    const file = join(dir, "r.html");
    const r = await kannon(["report", id, "--api", fleet.server.url, "--format", "html", "--out", file]);
    expect(r.code, r.out).toBe(0);
    const html = await readFile(file, "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(/i);
    expect((html.match(/<svg /g) ?? []).length).toBe(4); // req/s, errors/s, latency over time; the percentile distribution
    expect((html.match(/<circle /g) ?? []).length).toBe(12); // the distribution from the histogram: 50 % … 99.99 %
    for (const d of ["driver-1", "driver-2"]) expect(html).toContain(`<td>${d}</td>`);
    const data = JSON.parse(/<script type="application\/json" id="kannon-intervals">(.*?)<\/script>/s.exec(html)![1]!) as { requests: number }[];
    const report = (await client.getReport({ testId: id })).report!;
    expect(data.reduce((s, i) => s + i.requests, 0)).toBe(Number(report.total!.requests));
    expect(html).toContain(TestState[report.state]);
  });

  it("an unknown test id or format is a usage error (exit 2)", async () => {
    expect((await kannon(["report", "nope", "--api", fleet.server.url])).code).toBe(2);
    const bad = await kannon(["report", id, "--api", fleet.server.url, "--format", "xml"]);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--format must be json, csv or html/);
  });

  it("`kannon run --out` writes the run's full report as JSON", async () => {
    const file = join(dir, "run.json");
    const r = await kannon(["run", "--requests", "100", "--out", file]);
    expect(r.code, r.out).toBe(0);
    const parsed = fromJsonString(ReportSchema, await readFile(file, "utf8"), { ignoreUnknownFields: true });
    expect(parsed.total!.requests).toBe(300n);
    expect(parsed.state).toBe(TestState.COMPLETED);
  });
});
