/**
 * The embedded fleet of `kannon run` sends its load from worker threads, not from the main thread
 * that runs the orchestrator and the API: a blocked main thread does not stop the sending.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { threadId, Worker } from "node:worker_threads";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { grpcClient, spec, startRunning, type OrchestratorClient } from "./helpers.js";

/**
 * A target on a thread of its own that counts the requests it receives in shared memory, so this
 * thread can read the count while it is blocked (no event loop needed).
 */
const TARGET = `
const { workerData, parentPort } = require("node:worker_threads");
const http = require("node:http");
const count = new Int32Array(workerData);
const server = http.createServer((req, res) => {
  req.resume();
  Atomics.add(count, 0, 1);
  Atomics.notify(count, 0);
  res.end("ok");
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
`;

describe("the embedded fleet's drivers run off the main thread", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  let target: Worker;
  let targetUrl: string;
  const received = new Int32Array(new SharedArrayBuffer(4));

  beforeAll(async () => {
    target = new Worker(TARGET, { eval: true, workerData: received.buffer });
    const [port] = (await once(target, "message")) as [number];
    targetUrl = `http://127.0.0.1:${port}`;
    fleet = await startEmbedded({ drivers: 2, target: false });
    client = grpcClient(fleet.server.url);
  });
  afterAll(async () => {
    await fleet?.close();
    await target?.terminate();
  });

  it("every driver's load threads are worker threads, none of them this thread", () => {
    for (const d of fleet.drivers) {
      expect(d.loadThreadIds.length).toBeGreaterThan(0);
      expect(d.loadThreadIds).not.toContain(threadId);
    }
  });

  it("while the main thread is blocked mid-run, the drivers go on sending; the totals stay exact", async () => {
    const s = spec({
      targetUrl: `${targetUrl}/ping`,
      reportIntervalMs: 200,
      workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 1500 } } },
    });
    const started = await startRunning(client, s);
    const startAtMs = msOf(started.startAt!);
    await new Promise((r) => setTimeout(r, Math.max(0, startAtMs + 500 - Date.now())));
    // Blocks this thread (the orchestrator's, the API's and the drivers' main thread) until the
    // target has received 100 requests more than could have been sent before the block: each of
    // the 2 drivers sends one every 5 ms from start_at, never ahead of that schedule (a late one
    // runs it from its own start). A sender that needed this thread would never get there (20 s).
    // Causal, not timed: it holds however busy the machine (at a load average near 30, bounds on
    // latency, `late` or arrivals per ms did not). Tight timing: npm run bench.
    const blockedAt = Date.now();
    const sentBefore = 2 * (Math.floor((blockedAt - startAtMs) / 5) + 1);
    const needed = sentBefore + 100;
    let seen = Atomics.load(received, 0);
    while (seen < needed && Date.now() - blockedAt < 20_000) {
      Atomics.wait(received, 0, seen, 50);
      seen = Atomics.load(received, 0);
    }
    const blockedMs = Date.now() - blockedAt;
    console.log(`main thread blocked ${blockedMs} ms: the target received ${seen} requests (${sentBefore} could have been sent before the block)`);
    expect(seen, `requests received while the main thread was blocked for ${blockedMs} ms`).toBeGreaterThanOrEqual(needed);
    for await (const m of client.watchTest({ testId: started.id }, { timeoutMs: 30_000 })) void m;
    const { report } = await client.getReport({ testId: started.id });
    expect(report!.state).toBe(TestState.COMPLETED);
    // 300 requests per driver: 1500 ms at one every 5 ms.
    expect(report!.total!.requests).toBe(600n);
    expect(Atomics.load(received, 0)).toBe(600);
    expect(report!.total!.errors).toBe(0n);
  });
});
