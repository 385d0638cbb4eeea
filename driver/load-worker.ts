/**
 * A driver's load thread: runs one {@link InlineLoadPart} at a time, as the parent's
 * {@link WorkerLoadPart} asks (see driver/threads.ts for the protocol).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { getHeapStatistics } from "node:v8";
import { parentPort } from "node:worker_threads";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { InlineLoadPart } from "./load.js";
import type { ToThread, FromThread } from "./threads.js";

const port = parentPort!;
let part: InlineLoadPart | undefined;
let runId = 0;
/** Samples recorded since the last snapshot, when the parent taps them (tests and benches only). */
let samples: number[] = [];

const post = (m: FromThread) => port.postMessage(m);

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "run": {
      runId = m.runId;
      samples = [];
      const current = new InlineLoadPart({
        spec: fromBinary(TestSpecSchema, m.spec),
        share: m.share,
        thread: m.thread,
        onSample: m.tap ? (latencyUs, serviceUs, sentMs) => void samples.push(latencyUs, serviceUs, sentMs) : undefined,
      });
      part = current;
      current.onHalt = (reason) => post({ type: "halt", runId: m.runId, reason });
      current.onStarted = (startedMs) => post({ type: "started", runId: m.runId, startedMs });
      current.run(m.startAtMs).then(
        (startedMs) => post({ type: "done", runId: m.runId, startedMs }),
        (err: unknown) => post({ type: "failed", runId: m.runId, message: err instanceof Error ? err.message : String(err) }),
      );
      break;
    }
    case "take": {
      if (part === undefined || m.runId !== runId) break;
      const snapshot = part.takeNow();
      const taken = samples;
      samples = [];
      post({ type: "snapshot", runId, takeId: m.takeId, snapshot, samples: taken });
      break;
    }
    case "reshare":
      if (m.runId === runId) part?.reshare(m.share);
      break;
    case "cancel":
      if (m.runId === runId) part?.cancel();
      break;
    case "close":
      if (m.runId === runId) {
        part?.close();
        part = undefined;
      }
      break;
    case "heap": {
      (globalThis as { gc?: () => void }).gc?.();
      post({ type: "heap", heapId: m.heapId, usedBytes: getHeapStatistics().used_heap_size });
      break;
    }
  }
});
post({ type: "ready" });
