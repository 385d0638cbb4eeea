import { create, fromJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ReportSchema, StatsSchema, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { intervalsCsv, reportHtml, reportJson } from "./exports.js";

const latency = (p50Us: bigint, p99Us: bigint) => ({ count: 4n, minUs: 1n, p50Us, p90Us: p99Us, p95Us: p99Us, p99Us, p999Us: p99Us, maxUs: p99Us, meanUs: 2 });
const start = { seconds: 1_700_000_000n, nanos: 0 };
const end = { seconds: 1_700_000_001n, nanos: 0 };

/** An interval of a scenario test with two steps, hand-built as the orchestrator fills it. */
function interval(i: number, withSteps: boolean): Stats {
  return create(StatsSchema, {
    interval: i,
    start,
    end,
    requests: 7n,
    requestsPerS: 7,
    errors: 1n,
    latency: latency(1000n, 2000n),
    ...(withSteps
      ? {
          scenarios: [{ scenarioIndex: 0, scenario: "buy, fast", iterations: 4n, aborted: 1n, iterationsPerS: 4, iterationDuration: latency(5000n, 9000n) }],
          steps: [
            { stepIndex: 0, scenario: "buy, fast", step: "login", stats: { requests: 4n, requestsPerS: 4, errors: 0n, latency: latency(800n, 900n) }, checks: [{ name: "ok", passed: 4n, failed: 0n }, { name: 'has "token"', passed: 3n, failed: 1n }], captureMissing: 1n, abortedIterations: 1n },
            { stepIndex: 1, scenario: "buy, fast", step: "cart", stats: { requests: 3n, requestsPerS: 3, errors: 1n }, checks: [] },
          ],
        }
      : {}),
  });
}

/** The CSV's cells as written (a quoted cell keeps its quotes); no cell here holds a line break. */
const parse = (csv: string) => csv.trim().split("\n").map((l) => l.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/));

describe("exports of a scenario test", () => {
  it("csv: scenario and step columns, a row per scenario and per step under each interval's total row", () => {
    const [header, ...rows] = parse(intervalsCsv([interval(0, true), interval(1, true)]));
    expect(header!.slice(0, 6)).toEqual(["interval", "scenario", "step", "start", "end", "requests"]);
    expect(header!.slice(-7)).toEqual(["iterations", "aborted", "iteration_p50_us", "iteration_p99_us", "checks_passed", "checks_failed", "capture_missing"]);
    const col = (row: string[], name: string) => row[header!.indexOf(name)];
    expect(rows).toHaveLength(8);
    expect(rows.map((r) => [r[0], r[1], r[2]])).toEqual([0, 1].flatMap((i) => [[`${i}`, "", ""], [`${i}`, '"buy, fast"', ""], [`${i}`, '"buy, fast"', "login"], [`${i}`, '"buy, fast"', "cart"]]));
    const [total, scenario, login, cart] = rows;
    expect(rows.every((r) => r.length === header!.length)).toBe(true);
    expect([col(total!, "requests"), col(total!, "p50_us"), col(total!, "iterations"), col(total!, "checks_passed")]).toEqual(["7", "1000", "", ""]);
    expect([col(scenario!, "requests"), col(scenario!, "iterations"), col(scenario!, "aborted"), col(scenario!, "iteration_p50_us"), col(scenario!, "iteration_p99_us")]).toEqual(["", "4", "1", "5000", "9000"]);
    expect([col(login!, "start"), col(login!, "requests"), col(login!, "p50_us"), col(login!, "p99_us"), col(login!, "checks_passed"), col(login!, "checks_failed"), col(login!, "capture_missing"), col(login!, "aborted")]).toEqual([
      "2023-11-14T22:13:20.000Z", "4", "800", "900", "7", "1", "1", "1",
    ]);
    expect([col(cart!, "requests"), col(cart!, "errors"), col(cart!, "p50_us")]).toEqual(["3", "1", ""]);
  });

  it("csv of a single-request test: the columns and rows it always had", () => {
    const csv = intervalsCsv([interval(0, false)]);
    expect(csv.split("\n")[0]).toBe(
      "interval,start,end,requests,requests_per_s,errors,dropped,late,bytes_received,p50_us,p90_us,p95_us,p99_us,p999_us,max_us,mean_us,service_p50_us,service_p99_us,failed_p50_us,failed_p99_us",
    );
    expect(csv.split("\n")[1]).toBe("0,2023-11-14T22:13:20.000Z,2023-11-14T22:13:21.000Z,7,7.000,1,0,0,0,1000,2000,2000,2000,2000,2000,2.0,,,,");
    expect(csv.split("\n")).toHaveLength(3);
  });

  const report = (withSteps: boolean) =>
    create(ReportSchema, {
      testId: "t1",
      state: TestState.COMPLETED,
      spec: { name: "shop", targetUrl: "http://127.0.0.1:1/", workload: { case: "avalanche", value: { concurrency: 1 } } },
      total: interval(0, withSteps),
    });

  it("json: the per-step and per-scenario numbers are in the report's total", () => {
    const parsed = fromJsonString(ReportSchema, reportJson(report(true)));
    expect(parsed.total!.steps.map((s) => [s.scenario, s.step, s.stats?.requests, s.checks.map((c) => [c.name, c.passed, c.failed])])).toEqual([
      ["buy, fast", "login", 4n, [["ok", 4n, 0n], ['has "token"', 3n, 1n]]],
      ["buy, fast", "cart", 3n, []],
    ]);
    expect(parsed.total!.scenarios[0]).toMatchObject({ scenario: "buy, fast", iterations: 4n, aborted: 1n });
  });

  it("html: a scenarios table, a steps table and each check by name, escaped; none for a single-request test", () => {
    const html = reportHtml(report(true), []);
    const table = (id: string) => new RegExp(`<table id="${id}">(.*?)</table>`, "s").exec(html)?.[1] ?? "";
    expect(table("report-scenarios")).toContain("<td>buy, fast</td><td>4</td><td>1</td><td>4.0</td><td>5.00 ms</td><td>9.00 ms</td>");
    expect(table("report-steps")).toContain("<td>buy, fast/login</td><td>4</td><td>0</td><td>7</td><td>1</td><td>1</td><td>1</td><td>0.80 ms</td><td>0.90 ms</td>");
    expect(table("report-checks")).toContain("<td>buy, fast/login</td><td>has &quot;token&quot;</td><td>3</td><td>1</td>");
    const plain = reportHtml(report(false), []);
    expect(plain).not.toMatch(/report-steps|report-scenarios|<h2>Steps/);
  });
});

describe("exports of an RPC test over HTTP/2 and TLS", () => {
  const rpcInterval = (i: number) =>
    create(StatsSchema, {
      interval: i,
      start,
      end,
      requests: 10n,
      requestsPerS: 10,
      errors: 2n,
      latency: latency(1000n, 2000n),
      codeCounts: { unavailable: 1n, ok: 8n, deadline_exceeded: BigInt(i) },
      errorCounts: { rpc_unavailable: 1n, ...(i > 0 ? { rpc_deadline_exceeded: BigInt(i) } : {}), connect_refused: BigInt(1 - i) },
      protocolCounts: { h2: 9n },
      handshake: latency(1500n, 3000n),
      firstMessage: latency(400n, 700n),
      messagesReceived: 40n,
      messagesPerS: 40,
    });
  const rpcReport = () =>
    create(ReportSchema, {
      testId: "t2",
      state: TestState.COMPLETED,
      spec: { targetUrl: "https://127.0.0.1:1/", http: { tls: { insecure: true } }, workload: { case: "avalanche", value: { concurrency: 1 } } },
      total: rpcInterval(1),
    });

  it("csv: a column per code seen (Connect's order), per protocol, handshakes and stream numbers after the request columns", () => {
    const [header, first, second] = parse(intervalsCsv([rpcInterval(0), rpcInterval(1)]));
    expect(header!.slice(20)).toEqual([
      "code_ok",
      "code_deadline_exceeded",
      "code_unavailable",
      "protocol_h2",
      "handshakes",
      "handshake_p50_us",
      "handshake_p99_us",
      "messages_received",
      "messages_per_s",
      "first_message_p50_us",
      "first_message_p99_us",
    ]);
    expect(first!.slice(20)).toEqual(["8", "0", "1", "9", "4", "1500", "3000", "40", "40.000", "400", "700"]);
    expect(second!.slice(20, 23)).toEqual(["8", "1", "1"]);
  });

  it("an HTTP/1.1 test's protocol counts add no column", () => {
    const plain = create(StatsSchema, { interval: 0, start, end, requests: 3n, protocolCounts: { "http/1.1": 3n } });
    expect(intervalsCsv([plain]).split("\n")[0]!.split(",")).toHaveLength(20);
  });

  it("html: RPC codes beside the other kinds (a failed code once), protocols, handshakes, streams, and TLS verification off", () => {
    const html = reportHtml(rpcReport(), []);
    const kinds = /<table class="error-kinds">(.*?)<\/table>/s.exec(html)?.[1] ?? "";
    expect([...kinds.matchAll(/<td>([^<]*)<\/td><td>(\d+)<\/td>/g)].map((m) => [m[1], m[2]])).toEqual([
      ["RPC ok", "8"],
      ["RPC deadline_exceeded", "1"],
      ["RPC unavailable", "1"],
      ["connect_refused", "0"],
    ]);
    expect(html).toContain('<p id="insecure">TLS verification off (insecure)');
    expect(html).toContain("<div>protocols<b>h2 9</b></div>");
    expect(html).toContain("<div>TLS handshakes<b>4 · p50 1.50 ms / p99 3.00 ms</b></div>");
    expect(html).toContain("<div>stream messages<b>40 (40.0/s)</b></div>");
    expect(html).toContain("<div>first message p50 / p99<b>0.40 ms / 0.70 ms</b></div>");
    expect(reportHtml(create(ReportSchema, { testId: "t3", spec: { targetUrl: "https://127.0.0.1:1/" } }), [])).not.toContain("insecure");
  });
});
