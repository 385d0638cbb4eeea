/**
 * The embedded fleet of `kannon run` sends its load from worker threads, not from the main thread
 * that runs the orchestrator, the API and the target: a busy main thread does not show up in the
 * latencies the drivers measure.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { threadId } from "node:worker_threads";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { grpcClient, spec, startRunning, targetCounts, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

describe("the embedded fleet's drivers run off the main thread", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let target: KannonProcess;
  let targetUrl: string;

  beforeAll(async () => {
    // The target in a process of its own: blocking this thread must not block the target too.
    const started = await startKannon(["target", "--host", "127.0.0.1", "--port", "0"], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    target = started.proc;
    targetUrl = started.match[1]!;
    fleet = await startEmbedded({ drivers: 2, target: false });
    client = grpcClient(fleet.server.url);
  });
  afterAll(async () => {
    await fleet?.close();
    await target?.stop();
  });

  it("every driver's load threads are worker threads, none of them this thread", () => {
    for (const d of fleet.drivers) {
      expect(d.loadThreadIds.length).toBeGreaterThan(0);
      expect(d.loadThreadIds).not.toContain(threadId);
    }
  });

  it("a 400 ms block of the main thread mid-run shows in no latency, and the totals stay exact", async () => {
    const before = await targetCounts(targetUrl);
    // Tsunami: each request is due on a fixed schedule and its latency counts from that instant,
    // so a driver whose sending waited for the main thread would report ~400 ms latencies.
    const s = spec({
      targetUrl: `${targetUrl}/ping`,
      reportIntervalMs: 200,
      workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 1500 } } },
    });
    const started = await startRunning(client, s);
    const startAtMs = msOf(started.startAt!);
    await new Promise((r) => setTimeout(r, Math.max(0, startAtMs + 500 - Date.now())));
    // Blocks this thread (the orchestrator's, the API's and the drivers' main thread) for 400 ms.
    const blockedAt = Date.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
    expect(Date.now() - blockedAt).toBeGreaterThanOrEqual(399);
    for await (const m of client.watchTest({ testId: started.id }, { timeoutMs: 30_000 })) void m;
    const { report } = await client.getReport({ testId: started.id });
    const after = await targetCounts(targetUrl);
    expect(report!.state).toBe(TestState.COMPLETED);
    // 300 requests per driver: 1500 ms at one every 5 ms.
    expect(report!.total!.requests).toBe(600n);
    expect(after.requests - before.requests).toBe(600);
    expect(report!.total!.errors).toBe(0n);
    // The worst request took far less than the block (the target answers /ping at once), and no
    // request started late: the load threads kept their schedule while this thread was blocked.
    expect(Number(report!.total!.latency!.maxUs)).toBeLessThan(150_000);
    expect(report!.total!.late).toBe(0n);
  });
});
