/**
 * A load thread: runs {@link InlineLoadPart}s as the parent's WorkerLoadParts ask (see
 * threads.ts for the protocol); several at once when drivers share the thread.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { getHeapStatistics } from "node:v8";
import { parentPort } from "node:worker_threads";
import { TestSpecSchema } from "../../gen/kannon/v1/test_pb.js";
import { InlineLoadPart } from "./load.js";
import type { ToThread, FromThread } from "./threads.js";
import { warmUp } from "./warm-up.js";

const port = parentPort!;
/** The parts this thread runs, by run id: one per test of each driver that uses this thread. */
const parts = new Map<number, { part: InlineLoadPart; samples: number[] }>();

const post = (m: FromThread) => port.postMessage(m);

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "run": {
      const entry = { part: undefined as unknown as InlineLoadPart, samples: [] as number[] };
      const spec = fromBinary(TestSpecSchema, m.spec);
      const part = new InlineLoadPart({
        spec,
        share: m.share,
        thread: m.thread,
        transport: m.transport,
        driverId: m.driverId,
        data: m.data,
        dataOfThread: true,
        iterations: m.iterations,
        onSample: m.tap ? (latencyUs, serviceUs, sentMs) => void entry.samples.push(latencyUs, serviceUs, sentMs) : undefined,
      });
      entry.part = part;
      parts.set(m.runId, entry);
      part.onHalt = (reason) => post({ type: "halt", runId: m.runId, reason });
      part.onStarted = (startedMs) => post({ type: "started", runId: m.runId, startedMs });
      part.onDataExhausted = (file) => post({ type: "exhausted", runId: m.runId, file });
      // It warms up with this test's request shape first while there is time (InlineLoadPart.run).
      part
        .run(m.startAtMs)
        .then(
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
await warmUp(undefined, undefined, 500).catch(() => undefined);
post({ type: "ready" });
