import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { createTarget } from "./target.js";
import { startTargetThread } from "./target-thread.js";

/**
 * A client on a thread of its own: GET url/ping one after another for `runMs`, then posts each
 * request's latency (ms). It posts "started" after its first answer.
 */
const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const latencies = [];
const until = Date.now() + workerData.runMs;
function next() {
  if (Date.now() > until || latencies.length >= 20000) { agent.destroy(); parentPort.postMessage({ latencies }); return; }
  const t0 = performance.now();
  http.get(workerData.url + "/ping", { agent }, (res) => {
    res.resume();
    res.on("end", () => {
      latencies.push(performance.now() - t0);
      if (latencies.length === 1) parentPort.postMessage("started");
      next();
    });
  }).on("error", (err) => parentPort.postMessage({ error: String(err) }));
}
next();
`;

/** Blocks this thread for `ms` (a busy orchestrator). */
function block(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

/** The slowest answer a client thread saw while this thread was blocked for `blockMs`. */
async function slowestDuringBlock(url: string, blockMs: number): Promise<{ max: number; count: number }> {
  const client = new Worker(CLIENT, { eval: true, workerData: { url, runMs: blockMs + 600 } });
  const result = new Promise<{ latencies?: number[]; error?: string }>((resolve, reject) => {
    client.on("message", (m: unknown) => {
      if (m === "started") block(blockMs);
      else resolve(m as { latencies?: number[]; error?: string });
    });
    client.on("error", reject);
  });
  const r = await result;
  await client.terminate();
  expect(r.error).toBeUndefined();
  return { max: Math.max(...r.latencies!), count: r.latencies!.length };
}

describe("the built-in target on a thread of its own", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it("serves, counts, resets and closes through the thread", async () => {
    const target = await startTargetThread();
    closers.push(() => target.close());
    expect(target.url).toBe(`http://127.0.0.1:${target.port}`);
    for (let i = 0; i < 3; i++) expect((await fetch(`${target.url}/ping`)).status).toBe(200);
    expect(await target.counts()).toMatchObject({ requests: 3, responses: 3, byPath: { "/ping": 3 } });
    await target.reset();
    expect((await target.counts()).requests).toBe(0);
    await target.close();
    await expect(fetch(`${target.url}/ping`)).rejects.toThrow();
    await expect(target.counts()).rejects.toThrow(/exited/);
  });

  it("a blocked main thread does not show in its answers (and does with the target on the main thread)", async () => {
    const blockMs = 600;
    const threaded = await startTargetThread();
    closers.push(() => threaded.close());
    const off = await slowestDuringBlock(threaded.url, blockMs);
    // Answers kept coming while this thread was blocked: none waited for the block.
    expect(off.max).toBeLessThan(blockMs / 2);
    expect(off.count).toBeGreaterThan(20);
    // The control: the same client against a target on this thread waits out the block.
    const inline = await createTarget();
    closers.push(() => inline.close());
    const on = await slowestDuringBlock(inline.url, blockMs);
    expect(on.max).toBeGreaterThanOrEqual(blockMs * 0.8);
  });
});
