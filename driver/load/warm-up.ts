import { clone } from "@bufbuild/protobuf";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { nowMs, sleepUntil } from "../clock.js";
import { createServer as createH2Server, type ServerHttp2Stream } from "node:http2";
import { connectionOptionsFrom } from "../transport/connection-options.js";
import { createTransport, type TransportKind } from "../transport/transport.js";
import { InlineLoadPart } from "./load.js";
import { IntervalRecorder } from "./recorder.js";

/**
 * Runs the request path against a throwaway server that this thread listens with on 127.0.0.1
 * (never the target), with the test's own method, headers and body when given, so that
 * the first requests of a test do not run cold code: the first dispatch of a test took 1-2 ms
 * (code compiled for other request shapes), and a driver sharing the thread started that much
 * later than the others. Bounded by `budgetMs`: it resolves by then whatever the requests do
 * (what is still in flight is cancelled and ends in the background), since the part's start waits
 * for it.
 */
export async function warmUp(spec: TestSpec | undefined, kind: TransportKind | undefined, budgetMs: number): Promise<void> {
  // HTTP/2 tests warm the HTTP/2 path (h2c: the warm-up server is plain http).
  const http = connectionOptionsFrom(spec?.http);
  const server = http.version === 2 ? createH2Server().on("stream", answerStream) : createServer(answerEveryRequest);
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
      const transport = createTransport(template, new IntervalRecorder(scheduled), { kind, http });
      let n = 0;
      if (scheduled) {
        transport.prepare(0, { ratePerS: 1000, maxInFlight: 50 });
        for (let i = 0; i < 50; i++) transport.fire(nowMs());
      }
      else void transport.runClosed(4, () => n++ < 200 && nowMs() < deadline);
      await transport.drain(deadline);
      await transport.close(true);
    }
    // Then the test's own workload, briefly, the way a part runs it (its executor's first call
    // took 0.3-0.5 ms cold, and the parts after it on this thread waited for that).
    // Not for a scenario test: a step's absolute URL would reach the target.
    if (spec && spec.scenarios.length === 0 && nowMs() < deadline) {
      const short = clone(TestSpecSchema, spec);
      short.targetUrl = url.href;
      short.maxDurationMs = Math.max(1, Math.floor(Math.min(50, deadline - nowMs())));
      short.requestTimeoutMs = 2000;
      const w = short.workload;
      if (w.case === "avalanche") w.value.limit = { case: "requestsPerDriver", value: 200n };
      else if (w.case === "tsunami") w.value.limit = { case: "requestsPerDriver", value: 20n };
      else if (w.case === "arrivalRate") Object.assign(w.value, { ratePerS: 1000, durationMs: 20, stages: [] });
      const part = new InlineLoadPart({ spec: short, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, thread: { index: 0, count: 1 }, transport: kind, warmUp: false });
      const ran = part.run(nowMs()).catch(() => undefined);
      await Promise.race([ran, sleepUntil(deadline)]);
      // Past the budget: stop it (its drain and close finish in the background).
      part.cancel();
      void ran.finally(() => part.close());
    }
  } finally {
    server.close();
  }
}

/** Answers an HTTP/2 request (its body read and dropped). */
function answerStream(stream: ServerHttp2Stream): void {
  stream.on("error", () => undefined);
  stream.resume();
  stream.respond({ ":status": 200 });
  stream.end("ok");
}

/**
 * Answers every request read on `socket`, in order, however they arrive: one per read, or several
 * in one read (pipelining), or one split over reads. Answering once per read left pipelined
 * requests unanswered until their timeout, and the warm-up overran its budget by seconds: with
 * `--pipelining 10`, every driver sharing the thread started ~1.6 s late.
 */
function answerEveryRequest(socket: Socket): void {
  const ok = Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const head = Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
  let pending: Buffer = Buffer.alloc(0);
  socket.on("error", () => undefined);
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) break;
      const text = pending.toString("latin1", 0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? 0);
      if (pending.length < end + 4 + length) break;
      pending = pending.subarray(end + 4 + length);
      // A HEAD request's answer has no body.
      socket.write(text.startsWith("HEAD ") ? head : ok);
    }
    if (pending.length > 64 * 1024) socket.destroy();
  });
}
