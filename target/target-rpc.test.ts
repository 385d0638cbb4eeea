/**
 * kannon.target.v1.TargetService on the target's one port, checked with connect-node's own clients
 * (the independent truth): every method over Connect (HTTP/1.1 and h2c, binary and JSON), gRPC (h2c)
 * and gRPC-Web (HTTP/1.1 and h2c); codes exactly as asked; the target's per-method × code counts
 * equal to the calls made; reflection over h2c; the plain endpoints over h2c too.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import http2 from "node:http2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as reflection from "../gen/grpc/reflection/v1/reflection_pb.js";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { createTarget, MAX_STREAM_COUNT, type Target } from "./target.js";

let target: Target;
beforeAll(async () => {
  target = await createTarget();
});
afterAll(() => target.close());
beforeEach(() => target.reset());

const ECHO = "kannon.target.v1.TargetService/Echo";
const STREAM = "kannon.target.v1.TargetService/Stream";
const FAIL = "kannon.target.v1.TargetService/Fail";

const transports: Record<string, () => Transport> = {
  "connect, HTTP/1.1, binary": () => createConnectTransport({ baseUrl: target.url, httpVersion: "1.1", useBinaryFormat: true }),
  "connect, HTTP/1.1, JSON": () => createConnectTransport({ baseUrl: target.url, httpVersion: "1.1" }),
  "connect, h2c, binary": () => createConnectTransport({ baseUrl: target.url, httpVersion: "2", useBinaryFormat: true }),
  "gRPC, h2c": () => createGrpcTransport({ baseUrl: target.url }),
  "gRPC, h2c, JSON": () => createGrpcTransport({ baseUrl: target.url, useBinaryFormat: false }),
  "gRPC-Web, HTTP/1.1": () => createGrpcWebTransport({ baseUrl: target.url, httpVersion: "1.1" }),
  "gRPC-Web, h2c": () => createGrpcWebTransport({ baseUrl: target.url, httpVersion: "2" }),
};

/** The code a call failed with ("ok" when it did not fail). */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

describe.each(Object.entries(transports))("TargetService over %s", (_name, transport) => {
  const client = () => createClient(TargetService, transport());

  it("Echo answers the text, the padding asked and the call's number", async () => {
    const c = client();
    const first = await c.echo({ text: "héllo", responseBytes: 1000 });
    expect(first.text).toBe("héllo");
    expect(first.padding.length).toBe(1000);
    expect(first.call).toBe(1n);
    const t0 = performance.now();
    const second = await c.echo({ text: "", delayMs: 120 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
    expect(second.call).toBe(2n);
    expect(second.padding.length).toBe(0);
    expect(await codeOf(c.echo({ delayMs: 60_001 }))).toBe("InvalidArgument");
    const counts = target.counts();
    expect(counts.rpc).toEqual({ [ECHO]: { ok: 2, invalid_argument: 1 } });
    expect(counts.requests).toBe(3);
    expect(counts.byPath).toEqual({ [`/${ECHO}`]: 3 });
  });

  it("Stream sends count messages interval_ms apart, each with its index and padding", async () => {
    const c = client();
    const got: { index: number; bytes: number; at: number }[] = [];
    const t0 = performance.now();
    for await (const m of c.stream({ count: 5, intervalMs: 40, messageBytes: 16 })) got.push({ index: m.index, bytes: m.padding.length, at: performance.now() - t0 });
    expect(got.map((m) => m.index)).toEqual([0, 1, 2, 3, 4]);
    expect(got.every((m) => m.bytes === 16)).toBe(true);
    // The first at once, the last four intervals later (the server starts the clock on the request).
    expect(got[4]!.at).toBeGreaterThanOrEqual(4 * 40 - 5);
    let empty = 0;
    for await (const _ of c.stream({ count: 0 })) empty++;
    expect(empty).toBe(0);
    expect(await codeOf((async () => { for await (const _ of c.stream({ count: MAX_STREAM_COUNT + 1 })); })())).toBe("InvalidArgument");
    expect(target.counts().rpc).toEqual({ [STREAM]: { ok: 2, invalid_argument: 1 } });
  });

  it("Fail fails with the code asked, every every-th call, and the counts say so exactly", async () => {
    const c = client();
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) codes.push(await codeOf(c.fail({ code: "unavailable", every: 3, message: "asked" })));
    // Calls 1, 4 and 7 fail; the others answer OK.
    expect(codes).toEqual(["Unavailable", "ok", "ok", "Unavailable", "ok", "ok", "Unavailable"]);
    const err = ConnectError.from(await c.fail({ code: "5" }).catch((e: unknown) => e));
    expect([err.code, err.rawMessage]).toEqual([Code.NotFound, "failing as asked (call 8, every 1)"]);
    expect(await codeOf(c.fail({ code: "deadline_exceeded" }))).toBe("DeadlineExceeded");
    expect(await codeOf(c.fail({ code: "ok" }))).toBe("ok");
    expect(await codeOf(c.fail({ code: "no_such_code" }))).toBe("InvalidArgument");
    expect((await c.fail({ code: "" })).call).toBe(11n);
    expect(target.counts().rpc).toEqual({ [FAIL]: { ok: 6, unavailable: 3, not_found: 1, deadline_exceeded: 1, invalid_argument: 1 } });
    await c.echo({});
    const counts = target.counts();
    expect(counts.rpc[ECHO]).toEqual({ ok: 1 });
    expect(counts.requests).toBe(13);
    await expect.poll(() => target.counts().responses).toBe(13);
  });
});

describe("TargetService counting", () => {
  it("a reset clears the counts and the call numbers; a call running across it is not counted", async () => {
    const c = createClient(TargetService, createGrpcTransport({ baseUrl: target.url }));
    await c.fail({ code: "aborted" }).catch(() => undefined);
    await c.echo({});
    const running = c.echo({ delayMs: 200 });
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`${target.url}/reset`, { method: "POST" });
    expect(res.status).toBe(204);
    expect(target.counts().rpc).toEqual({});
    expect((await running).call).toBe(2n);
    expect(target.counts().rpc).toEqual({});
    expect((await c.echo({})).call).toBe(1n);
    const served = (await (await fetch(`${target.url}/metrics`)).json()) as { rpc: unknown };
    expect(served.rpc).toEqual({ [ECHO]: { ok: 1 } });
  });

  it("a client that goes away mid-stream is counted canceled", async () => {
    const c = createClient(TargetService, createGrpcTransport({ baseUrl: target.url }));
    const abort = new AbortController();
    let seen = 0;
    const code = await codeOf(
      (async () => {
        for await (const _ of c.stream({ count: 100, intervalMs: 20 }, { signal: abort.signal })) if (++seen === 2) abort.abort();
      })(),
    );
    expect(code).toBe("Canceled");
    await expect.poll(() => target.counts().rpc).toEqual({ [STREAM]: { canceled: 1 } });
  });

  it.each([
    ["gRPC, h2c", () => createGrpcTransport({ baseUrl: target.url })],
    ["connect, HTTP/1.1", () => createConnectTransport({ baseUrl: target.url, httpVersion: "1.1" })],
    ["gRPC-Web, HTTP/1.1", () => createGrpcWebTransport({ baseUrl: target.url, httpVersion: "1.1" })],
  ])("a deadline shorter than the delay is deadline_exceeded on both sides (%s)", async (_name, transport) => {
    const c = createClient(TargetService, transport());
    expect(await codeOf(c.echo({ delayMs: 5_000 }, { timeoutMs: 150 }))).toBe("DeadlineExceeded");
    const stream = c.stream({ count: 3, intervalMs: 5_000 }, { timeoutMs: 150 })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.index).toBe(0);
    expect(await codeOf(stream.next())).toBe("DeadlineExceeded");
    await expect.poll(() => target.counts().rpc).toEqual({ [ECHO]: { deadline_exceeded: 1 }, [STREAM]: { deadline_exceeded: 1 } });
  });
});

describe("gRPC reflection over h2c", () => {
  const ask = async (messageRequest: reflection.ServerReflectionRequest["messageRequest"]) => {
    const c = createClient(reflection.ServerReflection, createGrpcTransport({ baseUrl: target.url }));
    const out: reflection.ServerReflectionResponse[] = [];
    async function* one() {
      yield { messageRequest };
    }
    for await (const r of c.serverReflectionInfo(one(), { timeoutMs: 10_000 })) out.push(r);
    expect(out).toHaveLength(1);
    return out[0]!.messageResponse;
  };

  it("lists the service and answers the file containing a symbol, uncounted", async () => {
    const list = await ask({ case: "listServices", value: "" });
    expect(list.case).toBe("listServicesResponse");
    expect((list.value as reflection.ListServiceResponse).service.map((s) => s.name)).toEqual([
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "kannon.target.v1.TargetService",
    ]);
    for (const symbol of ["kannon.target.v1.TargetService", "kannon.target.v1.TargetService.Stream", "kannon.target.v1.FailRequest"]) {
      const file = await ask({ case: "fileContainingSymbol", value: symbol });
      expect(file.case, symbol).toBe("fileDescriptorResponse");
      const protos = (file.value as reflection.FileDescriptorResponse).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      expect(protos.map((p) => p.name)).toEqual(["kannon/target/v1/target.proto"]);
      expect(protos[0]!.service.map((s) => [s.name, s.method.map((m) => [m.name, m.serverStreaming ?? false])])).toEqual([
        ["TargetService", [["Echo", false], ["Stream", true], ["Fail", false]]],
      ]);
    }
    const missing = await ask({ case: "fileContainingSymbol", value: "kannon.target.v1.Nope" });
    expect(missing.case).toBe("errorResponse");
    expect((missing.value as reflection.ErrorResponse).errorCode).toBe(Code.NotFound);
    const counts = target.counts();
    expect([counts.requests, counts.rpc]).toEqual([0, {}]);
  });
});

describe("the plain endpoints over h2c", () => {
  it("answer and count as over HTTP/1.1", async () => {
    const session = http2.connect(target.url);
    const get = (path: string, method = "GET") =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ":path": path, ":method": method });
        let body = "";
        let status = 0;
        req.on("response", (h) => (status = Number(h[":status"])));
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end();
      });
    try {
      expect(await get("/ping")).toEqual({ status: 200, body: "pong" });
      expect(await get("/delay?ms=20")).toEqual({ status: 200, body: "ok" });
      expect(await get("/nope")).toEqual({ status: 404, body: "not found\n" });
      expect((await get("/login", "POST")).status).toBe(400);
      const metrics = await get("/metrics");
      const counts = JSON.parse(metrics.body) as { requests: number; responses: number; byPath: Record<string, number>; byStatus: Record<string, number> };
      expect(counts).toMatchObject({ requests: 4, responses: 4, byPath: { "/ping": 1, "/delay": 1, "/nope": 1, "/login": 1 }, byStatus: { 200: 2, 404: 1, 400: 1 } });
    } finally {
      session.close();
    }
  });
});
