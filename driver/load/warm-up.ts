import { clone } from "@bufbuild/protobuf";
import { createServer, type AddressInfo } from "node:net";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { nowMs } from "../clock.js";
import { createTransport, type TransportKind } from "../transport/transport.js";
import { InlineLoadPart } from "./load.js";
import { IntervalRecorder } from "./recorder.js";

/**
 * Runs the request path against a throwaway server that this thread listens with on 127.0.0.1
 * (never the target), with the test's own method, headers and body when given, so that
 * the first requests of a test do not run cold code: the first dispatch of a test took 1-2 ms
 * (code compiled for other request shapes), and a driver sharing the thread started that much
 * later than the others. Bounded by `budgetMs`.
 */
export async function warmUp(spec: TestSpec | undefined, kind: TransportKind | undefined, budgetMs: number): Promise<void> {
  const answer = Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const server = createServer((socket) => socket.on("data", () => socket.write(answer)).on("error", () => undefined));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: p } = server.address() as AddressInfo;
  const url = new URL(`http://127.0.0.1:${p}/warm-up`);
  const template = {
    url,
    method: spec?.method.toUpperCase() || "GET",
    headers: spec?.headers ?? {},
    body: spec && spec.body.length > 0 ? spec.body : undefined,
    timeoutMs: 2000,
  };
  const deadline = nowMs() + budgetMs;
  try {
    for (const scheduled of [false, true]) {
      const transport = createTransport(template, new IntervalRecorder(scheduled), { kind });
      let n = 0;
      if (scheduled) for (let i = 0; i < 50; i++) transport.fire(nowMs());
      else void transport.runClosed(4, () => n++ < 200 && nowMs() < deadline);
      await transport.drain(deadline);
      await transport.close(true);
    }
    // Then the test's own workload, briefly, the way a part runs it (its executor's first call
    // took 0.3-0.5 ms cold, and the parts after it on this thread waited for that).
    if (spec && nowMs() < deadline) {
      const short = clone(TestSpecSchema, spec);
      short.targetUrl = url.href;
      short.maxDurationMs = Math.max(1, Math.floor(Math.min(50, deadline - nowMs())));
      short.requestTimeoutMs = 2000;
      const w = short.workload;
      if (w.case === "avalanche") w.value.limit = { case: "requestsPerDriver", value: 200n };
      else if (w.case === "tsunami") w.value.limit = { case: "requestsPerDriver", value: 20n };
      else if (w.case === "arrivalRate") Object.assign(w.value, { ratePerS: 1000, durationMs: 20, stages: [] });
      const part = new InlineLoadPart({ spec: short, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, thread: { index: 0, count: 1 }, transport: kind });
      await part.run(nowMs());
      part.close();
    }
  } finally {
    server.close();
  }
}
