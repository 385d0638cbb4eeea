import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, type OrchestratorClient, runToEnd, spec, startRunning, until } from "./helpers.js";

describe("a target that never finishes its responses", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    // Headers at once, then one byte every 300 ms, forever: undici's header and body timeouts never fire.
    server = http.createServer((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write("x"), 300);
      res.on("close", () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    fleet = await startEmbedded({ drivers: 1, target: false });
    client = grpcClient(fleet.server.url);
  });
  afterAll(async () => {
    await fleet?.close();
    server.closeAllConnections();
    server.close();
  });

  it("each request ends at the request timeout, so a count-only avalanche still ends", async () => {
    const t0 = Date.now();
    const { id } = await runToEnd(
      client,
      spec({ targetUrl: url, requestTimeoutMs: 1000, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 4n } } } }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.total!.errorCounts["timeout"]).toBe(4n);
    expect(Date.now() - t0).toBeLessThan(8000);
    await until(() => fleet.orchestrator.fleet.ready().length === 1, 5000, "driver READY again");
  });

  it("a cancel ends the test within a couple of seconds, counting the cut-off requests as aborted", async () => {
    const { test } = await client.createTest({
      spec: spec({ targetUrl: url, requestTimeoutMs: 30_000, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 4n } } } }),
    });
    await client.startTest({ testId: test!.id });
    await until(async () => (await client.getTest({ testId: test!.id })).test!.state === TestState.RUNNING, 5000, "RUNNING");
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const { test: cancelled } = await client.cancelTest({ testId: test!.id });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(cancelled!.state).toBe(TestState.CANCELLED);
    const { report } = await client.getReport({ testId: test!.id });
    expect(report!.drivers[0]!.finished).toBe(true);
    expect(report!.total!.errorCounts["aborted"]).toBe(2n);
    await until(() => fleet.orchestrator.fleet.ready().length === 1, 5000, "driver READY again");
  });

  it("tsunami with max_in_flight stops at its duration: what the cap held back is dropped, never sent after the end", async () => {
    const t0 = Date.now();
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: url,
        requestTimeoutMs: 2000,
        workload: { case: "tsunami", value: { delayMs: 10, maxInFlight: 2, limit: { case: "durationMs", value: 1000 } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    const t = report!.total!;
    expect(report!.state).toBe(TestState.COMPLETED);
    // Two requests held the cap until their timeout, after the end; the other 98 of the schedule were dropped.
    expect(t.requests).toBe(2n);
    expect(t.errorCounts["timeout"]).toBe(2n);
    expect(t.dropped).toBe(98n);
    expect(Date.now() - t0).toBeLessThan(7000);
    await until(() => fleet.orchestrator.fleet.ready().length === 1, 5000, "driver READY again");
  });

  it("a cancel frees a tsunami request waiting for a slot at once", async () => {
    const test = await startRunning(
      client,
      spec({
        targetUrl: url,
        requestTimeoutMs: 30_000,
        workload: { case: "tsunami", value: { delayMs: 10, maxInFlight: 1, limit: { case: "durationMs", value: 60_000 } } },
      }),
      { runningWithinMs: 5000 },
    );
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const { test: cancelled } = await client.cancelTest({ testId: test!.id });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(cancelled!.state).toBe(TestState.CANCELLED);
    const { report } = await client.getReport({ testId: test!.id });
    expect(report!.drivers[0]!.finished).toBe(true);
    expect(report!.total!.errorCounts["aborted"]).toBe(1n);
    await until(() => fleet.orchestrator.fleet.ready().length === 1, 5000, "driver READY again");
  });
});
