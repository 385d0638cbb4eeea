import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { intervalsCsv, reportHtml } from "../web/exports.js";
import { closedPort, grpcClient, runToEnd, spec, type OrchestratorClient } from "./helpers.js";

describe("failed requests and the outcome, end to end (embedded fleet)", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let dataDir: string;
  let server: Server;
  /** What the mixed server did: answered 200, answered 500, or closed the connection unanswered. */
  const did = { ok: 0, err500: 0, closed: 0 };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-outcome-"));
    fleet = await startEmbedded({ drivers: 2, dataDir });
    client = grpcClient(fleet.server.url);
    let n = 0;
    server = createServer((req, res) => {
      const k = n++ % 5;
      if (k === 0) {
        did.err500++;
        res.writeHead(500, { "content-length": "0" }).end();
      } else if (k === 1) {
        did.closed++;
        req.socket.destroy();
      } else {
        did.ok++;
        res.writeHead(200, { "content-length": "2" }).end("ok");
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await fleet?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a test where every request was refused: no response-time sample, every request in the failed histogram, failing with the error kind", async () => {
    const port = await closedPort();
    const { id, messages } = await runToEnd(
      client,
      spec({ targetUrl: `http://127.0.0.1:${port}/`, reportIntervalMs: 200, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 300n } } } }),
    );
    const { report } = await client.getReport({ testId: id });
    const t = report!.total!;
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(t.requests).toBe(600n);
    expect(t.errorCounts).toEqual({ connect_refused: 600n });
    expect(t.latency?.count ?? 0n).toBe(0n);
    expect(t.failedLatency!.count).toBe(600n);
    for (const d of report!.drivers) expect(d.stats!.failedLatency!.count).toBe(300n);
    expect(report!.outcome!.verdict).toBe(Verdict.FAILING);
    expect(report!.outcome!.reasons).toEqual(["every request failed (connect_refused×600)"]);
    expect(report!.outcome!.errorRate).toBe(1);
    // The stream said failing before the end, and GetTest says it too.
    const live = messages.find((m) => m.test?.state === TestState.RUNNING && m.test.outcome?.verdict === Verdict.FAILING);
    expect(live, "a RUNNING message with a failing outcome").toBeDefined();
    const { test } = await client.getTest({ testId: id });
    expect(test!.outcome!.verdict).toBe(Verdict.FAILING);
    // ListIntervals' intervals split the same way.
    const { intervals } = await client.listIntervals({ testId: id });
    expect(intervals.reduce((s, i) => s + (i.failedLatency?.count ?? 0n), 0n)).toBe(600n);
    expect(intervals.reduce((s, i) => s + (i.latency?.count ?? 0n), 0n)).toBe(0n);
    // The exports: the CSV's failed columns hold the times, the latency ones are empty; the HTML says FAILING.
    const [header, ...rows] = intervalsCsv(intervals).trim().split("\n");
    const cols = header!.split(",");
    const withRequests = rows.map((r) => r.split(",")).filter((r) => Number(r[cols.indexOf("requests")]) > 0);
    expect(withRequests.length).toBeGreaterThan(0);
    for (const r of withRequests) {
      expect(r[cols.indexOf("p50_us")]).toBe("");
      expect(Number(r[cols.indexOf("failed_p50_us")])).toBeGreaterThan(0);
    }
    expect(reportHtml(report!, intervals)).toContain(`FAILING</span> <span class="failing-why">error rate 100% · every request failed (connect_refused×600)`);
  });

  it("a mixed run (200s, 500s, closed connections) splits exactly: 200s in latency, the rest in failed latency", async () => {
    const before = { ...did };
    const { id } = await runToEnd(
      client,
      spec({ targetUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, reportIntervalMs: 200, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 250n } } } }),
    );
    const { report } = await client.getReport({ testId: id });
    const t = report!.total!;
    const server200 = did.ok - before.ok;
    const server500 = did.err500 - before.err500;
    const closed = did.closed - before.closed;
    const transportErrors = Object.values(t.errorCounts).reduce((a, b) => a + b, 0n);
    expect(t.requests).toBe(500n);
    expect(t.statusCounts[200]).toBe(BigInt(server200));
    expect(t.statusCounts[500]).toBe(BigInt(server500));
    expect(transportErrors).toBe(BigInt(closed));
    expect(server200 + server500 + closed).toBe(500);
    expect(t.latency!.count).toBe(BigInt(server200));
    expect(t.failedLatency!.count).toBe(BigInt(server500 + closed));
    expect(t.errors).toBe(BigInt(server500 + closed));
    // About 2 in 5 failed (the server's rotation is shared by both drivers' connections).
    expect(report!.outcome!.verdict).toBe(Verdict.FAILING);
    expect(report!.outcome!.reasons[0]).toMatch(/^error rate \d+(\.\d)?% above 1% \(/);
    expect(report!.outcome!.reasons[0]).toContain(`http_500×${server500}`);
  });
});
