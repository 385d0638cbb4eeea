/**
 * Entry of the built-in target's worker thread (target/target-thread.ts): serves the target and
 * answers the parent's requests for its counters, a reset and the close.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createTarget, type TargetOptions } from "./target.js";
import type { FromTargetThread, ToTargetThread } from "./target-thread.js";

const port = parentPort!;
const post = (m: FromTargetThread) => port.postMessage(m);
try {
  const target = await createTarget((workerData as { options: TargetOptions }).options);
  port.on("message", (m: ToTargetThread) => {
    switch (m.type) {
      case "counts":
        post({ type: "counts", id: m.id, counts: target.counts() });
        break;
      case "reset":
        target.reset();
        post({ type: "done", id: m.id });
        break;
      case "close":
        void target.close().then(() => {
          post({ type: "done", id: m.id });
          port.close();
        });
        break;
    }
  });
  post({ type: "ready", url: target.url, port: target.port });
} catch (err) {
  post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
  port.close();
}
