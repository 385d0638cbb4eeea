/**
 * A load thread: runs {@link InlineLoadPart}s as the parent's WorkerLoadParts ask (see
 * driver/threads.ts for the protocol); several at once when drivers share the thread.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { getHeapStatistics } from "node:v8";
import { parentPort } from "node:worker_threads";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { nowMs } from "./clock.js";
import { HttpFirer } from "./http.js";
import { InlineLoadPart } from "./load.js";
import { IntervalRecorder } from "./recorder.js";
import type { ToThread, FromThread } from "./threads.js";

const port = parentPort!;
/** The parts this thread runs, by run id: one per test of each driver that uses this thread. */
const parts = new Map<number, { part: InlineLoadPart; samples: number[] }>();

const post = (m: FromThread) => port.postMessage(m);

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "run": {
      const entry = { part: undefined as unknown as InlineLoadPart, samples: [] as number[] };
      const part = new InlineLoadPart({
        spec: fromBinary(TestSpecSchema, m.spec),
        share: m.share,
        thread: m.thread,
        onSample: m.tap ? (latencyUs, serviceUs, sentMs) => void entry.samples.push(latencyUs, serviceUs, sentMs) : undefined,
      });
      entry.part = part;
      parts.set(m.runId, entry);
      part.onHalt = (reason) => post({ type: "halt", runId: m.runId, reason });
      part.onStarted = (startedMs) => post({ type: "started", runId: m.runId, startedMs });
      part.run(m.startAtMs).then(
        (startedMs) => post({ type: "done", runId: m.runId, startedMs }),
        (err: unknown) => post({ type: "failed", runId: m.runId, message: err instanceof Error ? err.message : String(err) }),
      );
      break;
    }
    case "take": {
      const entry = parts.get(m.runId);
      if (entry === undefined) break;
      const snapshot = entry.part.takeNow();
      const samples = entry.samples;
      entry.samples = [];
      post({ type: "snapshot", runId: m.runId, takeId: m.takeId, snapshot, samples });
      break;
    }
    case "reshare":
      parts.get(m.runId)?.part.reshare(m.share);
      break;
    case "cancel":
      parts.get(m.runId)?.part.cancel();
      break;
    case "close":
      parts.get(m.runId)?.part.close();
      parts.delete(m.runId);
      break;
    case "heap": {
      (globalThis as { gc?: () => void }).gc?.();
      post({ type: "heap", heapId: m.heapId, usedBytes: getHeapStatistics().used_heap_size });
      break;
    }
  }
});
/**
 * Runs the request path a few hundred times against a throwaway server on 127.0.0.1 (in this
 * thread, never reachable from outside), so that the first test's first requests do not run cold
 * code: the first dispatches of a fresh thread took milliseconds, and a driver sharing the thread
 * started that much later than the others.
 */
async function warmUp(): Promise<void> {
  const answer = Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const server = createServer((socket) => socket.on("data", () => socket.write(answer)).on("error", () => undefined));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: p } = server.address() as AddressInfo;
  const url = new URL(`http://127.0.0.1:${p}/warm-up`);
  for (const scheduled of [false, true]) {
    const firer = new HttpFirer({ url, method: "GET", headers: {}, body: undefined, timeoutMs: 2000 }, new IntervalRecorder(scheduled), 1);
    let n = 0;
    if (scheduled) for (let i = 0; i < 100; i++) firer.fire(nowMs());
    else await firer.runClosed(4, () => n++ < 300);
    await firer.drain(nowMs() + 2000);
    await firer.close(true);
  }
  await new Promise((resolve) => server.close(resolve));
}

await warmUp().catch(() => undefined);
post({ type: "ready" });
