import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ReportSchema, type Report } from "../gen/kannon/v1/report_pb.js";
import { HttpOptionsSchema, HttpVersion } from "../gen/kannon/v1/protocol_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { alignColumns, formatReport } from "./summary.js";

const latency = (p50Us: bigint, p99Us: bigint) => ({ count: 10n, minUs: 1n, p50Us, p90Us: p99Us, p95Us: p99Us, p99Us, p999Us: p99Us, maxUs: p99Us });

/** A finished report; `scenario` adds hand-built per-scenario and per-step numbers to its total. */
function report(scenario: boolean): Report {
  return create(ReportSchema, {
    testId: "t1",
    state: TestState.COMPLETED,
    spec: {
      name: "shop",
      targetUrl: "http://127.0.0.1:1/ping",
      workload: { case: "avalanche", value: { concurrency: 2 } },
      ...(scenario ? { scenarios: [{ name: "shopper", weight: 1, steps: [{ name: "login" }, { name: "item" }] }, { name: "idle", steps: [{ name: "wait" }] }] } : {}),
    },
    drivers: [{ driverId: "driver-1", stats: { requests: 30n, latency: latency(1000n, 2000n) }, finished: true }],
    total: {
      requests: 30n,
      requestsPerS: 15,
      statusCounts: { 200: 29n, 401: 1n },
      errors: 1n,
      latency: latency(1000n, 2000n),
      ...(scenario
        ? {
            scenarios: [
              { scenarioIndex: 0, scenario: "shopper", iterations: 10n, aborted: 1n, iterationsPerS: 5, iterationDuration: latency(4500n, 9990n) },
              { scenarioIndex: 1, scenario: "idle", iterations: 0n },
            ],
            steps: [
              {
                stepIndex: 0,
                scenario: "shopper",
                step: "login",
                stats: { requests: 10n, errors: 0n, latency: latency(1250n, 3000n) },
                checks: [
                  { name: "ok", passed: 10n, failed: 0n },
                  { name: "has token", passed: 9n, failed: 1n },
                ],
                captureMissing: 1n,
                abortedIterations: 1n,
              },
              { stepIndex: 1, scenario: "shopper", step: "item", stats: { requests: 9n, errors: 1n }, checks: [] },
            ],
          }
        : {}),
    },
  });
}

describe("the CLI summary of a scenario test", () => {
  it("prints per-scenario and per-step rows below the total, and the checks that failed by name", () => {
    const lines = formatReport(report(true)).split("\n");
    // The workload counts iterations; the steps' paths resolve against the target's origin.
    expect(lines.find((l) => l.startsWith("  30 requests"))).toBe("  30 requests, 1 driver × 2 iterations in flight (avalanche against http://127.0.0.1:1, 2 scenarios of 3 steps)");
    const at = lines.indexOf("  per scenario (iteration duration without think time):");
    expect(at).toBeGreaterThan(lines.findIndex((l) => l.startsWith("  latency:")));
    expect(lines.slice(at + 1, at + 4)).toEqual([
      "    scenario  iterations  aborted  it/s  iteration p50      p99",
      "    shopper           10        1   5.0        4.50 ms  9.99 ms",
      "    idle               0        0   0.0              –        –",
    ]);
    expect(lines.slice(at + 4, at + 11)).toEqual([
      "  per step (latency of succeeded requests):",
      "    step           requests  errors  checks passed  failed  capture missing      p50      p99",
      "    shopper/login        10       0             19       1                1  1.25 ms  3.00 ms",
      "    shopper/item          9       1              0       0                0        –        –",
      "  failed checks:",
      '    shopper/login "has token": failed 1 of 10',
      "  per driver:",
    ]);
  });

  it("prints nothing of the kind for a single-request test", () => {
    const plain = formatReport(report(false));
    expect(plain).not.toMatch(/per scenario|per step|failed checks/);
    expect(plain.split("\n").find((l) => l.startsWith("  30 requests"))).toBe("  30 requests, 1 driver × 2 connections (avalanche against http://127.0.0.1:1/ping)");
    // The same report with its step rows cut off the scenario one, but for its settings line.
    const withSteps = formatReport(report(true)).split("\n");
    const from = withSteps.indexOf("  per scenario (iteration duration without think time):");
    const to = withSteps.indexOf("  per driver:");
    const others = (lines: string[]) => lines.filter((l) => !l.startsWith("  30 requests")).join("\n");
    expect(others([...withSteps.slice(0, from), ...withSteps.slice(to)])).toBe(others(plain.split("\n")));
  });

  it("prints RPC codes, protocols, TLS handshakes, stream numbers and an insecure TLS, each only when there is one", () => {
    const r = report(false);
    r.spec!.http = create(HttpOptionsSchema, { version: HttpVersion.HTTP_VERSION_2, tls: { insecure: true } });
    Object.assign(r.total!, {
      codeCounts: { unavailable: 3n, ok: 26n, not_found: 1n, deadline_exceeded: 3n },
      protocolCounts: { h2: 29n, "http/1.1": 1n },
      handshake: latency(1500n, 4000n),
      firstMessage: latency(2000n, 9000n),
      messagesReceived: 120n,
      messagesPerS: 60,
    });
    const lines = formatReport(r).split("\n");
    const at = lines.findIndex((l) => l.startsWith("  codes:"));
    expect(lines.slice(at, at + 5)).toEqual([
      "  codes: ok×26 deadline_exceeded×3 not_found×1 unavailable×3",
      "  protocols: h2×29 http/1.1×1",
      "  TLS handshakes: 10   p50 1.50 ms  p99 4.00 ms",
      "  stream messages: 120   messages/s: 60.0   first message p50 2.00 ms  p99 9.00 ms",
      "  TLS verification off (insecure)",
    ]);
    // Only HTTP/1.1 responses: no protocols line; no RPC, TLS or stream: none of the others.
    const plain = formatReport(report(false)).split("\n");
    const h1 = report(false);
    h1.total!.protocolCounts = { "http/1.1": 30n };
    expect(formatReport(h1).split("\n")).toEqual(plain);
    expect(plain.some((l) => /codes:|protocols:|TLS|stream messages/.test(l))).toBe(false);
  });

  it("a scenario test with RPC steps gets a codes column per step; one without none", () => {
    const r = report(true);
    r.total!.steps[0]!.stats!.codeCounts = { unavailable: 2n, ok: 8n };
    const lines = formatReport(r).split("\n");
    const header = lines.find((l) => l.trimStart().startsWith("step "))!;
    expect(header.trimEnd().endsWith("codes")).toBe(true);
    expect(lines.find((l) => l.includes("shopper/login"))!.trimEnd().endsWith("ok×8 unavailable×2")).toBe(true);
    expect(lines.find((l) => l.includes("shopper/item"))!.trimEnd().endsWith("–")).toBe(true);
    expect(formatReport(report(true))).not.toMatch(/codes/);
  });

  it("alignColumns pads every column but the last, numbers to the right", () => {
    expect(alignColumns([["a", "bb", "c"], ["ccc", "d", "e"]])).toEqual(["a    bb  c", "ccc  d   e"]);
    expect(alignColumns([["a", "bb"], ["ccc", "1"]], "> ", true)).toEqual(["> a    bb", "> ccc   1"]);
  });
});
