/**
 * RPCs on the wire (wire.ts) against connect-node's own server (test/rpc-server.ts): every protocol
 * × codec, unary and server streaming, over HTTP/1.1 (the fast exchange: Connect and gRPC-Web) and
 * h2c (the h2 exchange: gRPC too); codes exactly as the server counted them, gzip both ways, deadlines, and the
 * codes of answers without an RPC status.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRegistry } from "@bufbuild/protobuf";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { file_kannon_target_v1_target, TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { RpcCodec, RpcCompression, RpcProtocol, type Rpc } from "../gen/kannon/v1/protocol_pb.js";
import { createExchange, type Exchange, type ExchangeResult } from "../driver/transport/exchange.js";
import { startRpcServer, type RpcTestServer } from "../test/rpc-server.js";
import { envelope, EnvelopeReader, FLAG_END_STREAM } from "./envelope.js";
import { codeOfFailure, prepareCall, type RpcCall, type RpcOutcome } from "./wire.js";

let server: RpcTestServer;
let exchange: Exchange;
let h2: Exchange;
const registry = createRegistry(file_kannon_target_v1_target);

beforeAll(async () => {
  server = await startRpcServer();
  exchange = createExchange({ timeoutMs: 10_000, connections: 4 });
  h2 = createExchange({ timeoutMs: 10_000, connections: 4, http: { version: 2, streams: 100, connections: 1, tls: undefined, handshakePerRequest: false } });
});
afterAll(async () => {
  await h2?.close(true);
  await exchange?.close(true);
  await server?.close();
});
beforeEach(() => server.reset());

const PROTOCOLS = { connect: RpcProtocol.CONNECT, grpc: RpcProtocol.GRPC, "grpc-web": RpcProtocol.GRPC_WEB } as const;
const CODECS = { proto: RpcCodec.PROTO, json: RpcCodec.JSON } as const;
type Transport = "h1" | "h2";

function rpcOf(method: "Echo" | "Stream" | "Fail", protocol: keyof typeof PROTOCOLS, codec: keyof typeof CODECS, extra: Partial<Rpc> = {}): Rpc {
  return { $typeName: "kannon.v1.Rpc", service: TargetService.typeName, method, requestJson: "", protocol: PROTOCOLS[protocol], codec: CODECS[codec], timeoutMs: 0, compression: RpcCompression.NONE, ...extra };
}

/** Calls `method` with `json` as `rpc` says, over `via`; the outcome, and the exchange's result. */
async function call(rpc: Rpc, json: string, via: Transport, keepMessage = true): Promise<{ outcome: RpcOutcome | undefined; result: ExchangeResult; call: RpcCall }> {
  const method = TargetService.method[(rpc.method[0]!.toLowerCase() + rpc.method.slice(1)) as "echo"];
  const c = prepareCall(rpc, method, 10_000, registry);
  const body = c.encode(json);
  if (!(body instanceof Uint8Array)) throw new Error(body.problem);
  const req = c.request(c.url(new URL(server.url)), c.headers({ "x-test": "1" }), body, keepMessage);
  const result = await (via === "h1" ? exchange : h2).send(req, c.keep);
  return { outcome: result.ok ? c.classify(result, req, keepMessage) : undefined, result, call: c };
}

const json = (o: RpcOutcome | undefined) => JSON.parse(new TextDecoder().decode(o!.message!)) as Record<string, unknown>;

// gRPC needs HTTP/2; Connect and gRPC-Web go over both.
const cases: [keyof typeof PROTOCOLS, keyof typeof CODECS, Transport][] = [];
for (const p of Object.keys(PROTOCOLS) as (keyof typeof PROTOCOLS)[])
  for (const codec of Object.keys(CODECS) as (keyof typeof CODECS)[]) for (const via of ["h1", "h2"] as const) if (p !== "grpc" || via === "h2") cases.push([p, codec, via]);

describe.each(cases)("%s %s over %s", (protocol, codec, via) => {
  it("a unary call answers ok with the message, read as protobuf JSON", async () => {
    const { outcome } = await call(rpcOf("Echo", protocol, codec), '{"text": "hi", "responseBytes": 3}', via);
    expect(outcome?.code).toBe("ok");
    expect(outcome?.messages).toBe(0);
    expect(outcome?.firstMessageMs).toBeNaN();
    expect(json(outcome)).toEqual({ text: "hi", padding: "eHh4", call: "1" });
    expect(server.counts).toEqual(new Map([["Echo ok", 1]]));
  });

  it("a server stream counts its messages, times the first, and gives the first to the checks", async () => {
    const { outcome, result } = await call(rpcOf("Stream", protocol, codec), '{"count": 7, "intervalMs": 30, "messageBytes": 2}', via);
    expect(outcome?.code).toBe("ok");
    expect(outcome?.messages).toBe(7);
    // The first message arrives long before the stream's end (6 intervals of 30 ms later).
    expect(result.endMs - outcome!.firstMessageMs).toBeGreaterThanOrEqual(100);
    expect(outcome!.firstMessageMs).toBeGreaterThanOrEqual(result.sentMs);
    expect(json(outcome)).toEqual({ padding: "eXk=" });
    expect(server.counts).toEqual(new Map([["Stream ok", 1]]));
  });

  it("codes are counted exactly as the server sent them", async () => {
    for (const code of ["unavailable", "not_found", "permission_denied", "resource_exhausted", "internal", "unauthenticated"]) {
      const { outcome } = await call(rpcOf("Fail", protocol, codec), JSON.stringify({ code }), via);
      expect(outcome?.code).toBe(code);
    }
    // Every 3rd call fails (calls 7 and 10 of the method, counted from 1 above).
    const next: string[] = [];
    for (let i = 0; i < 6; i++) next.push((await call(rpcOf("Fail", protocol, codec), '{"code": "aborted", "every": 3}', via)).outcome!.code);
    expect(next).toEqual(["aborted", "ok", "ok", "aborted", "ok", "ok"]);
    expect([...server.counts].sort()).toEqual(
      [
        ["Fail aborted", 2],
        ["Fail internal", 1],
        ["Fail not_found", 1],
        ["Fail ok", 4],
        ["Fail permission_denied", 1],
        ["Fail resource_exhausted", 1],
        ["Fail unauthenticated", 1],
        ["Fail unavailable", 1],
      ].sort(),
    );
  });

  it("gzip compresses the request and decodes the compressed response", async () => {
    const { outcome, result } = await call(rpcOf("Echo", protocol, codec, { compression: RpcCompression.GZIP }), '{"text": "zip", "responseBytes": 20000}', via);
    expect(outcome?.code).toBe("ok");
    // 20,000 repeated bytes came compressed.
    expect(result.ok && result.bytes).toBeLessThan(2000);
    expect((json(outcome).padding as string).length).toBe(Math.ceil(20000 / 3) * 4);
    const stream = await call(rpcOf("Stream", protocol, codec, { compression: RpcCompression.GZIP }), '{"count": 3, "messageBytes": 5000}', via);
    expect(stream.outcome?.code).toBe("ok");
    expect(stream.outcome?.messages).toBe(3);
    expect(stream.result.ok && stream.result.bytes).toBeLessThan(3000);
  });

  it("the deadline goes to the server, which ends the call deadline_exceeded", async () => {
    const { outcome, result } = await call(rpcOf("Echo", protocol, codec, { timeoutMs: 150 }), '{"delayMs": 3000}', via);
    expect(outcome?.code).toBe("deadline_exceeded");
    expect(result.endMs - result.sentMs).toBeLessThan(2500);
    expect(server.counts.get("Echo deadline_exceeded")).toBe(1);
    // A stream cut by its deadline after its first message: the error comes after a message.
    const stream = await call(rpcOf("Stream", protocol, codec, { timeoutMs: 300 }), '{"count": 3, "intervalMs": 2000}', via);
    expect(stream.outcome?.code).toBe("deadline_exceeded");
    expect(stream.outcome?.messages).toBe(1);
    expect(server.counts.get("Stream deadline_exceeded")).toBe(1);
  });
});

describe("without an RPC status", () => {
  let plain: Server;
  let url: URL;
  beforeAll(async () => {
    plain = createServer((req, res) => {
      const status = Number(new URL(req.url!, "http://x").pathname.split("/")[2]!.slice(4));
      res.writeHead(status, { "content-type": "text/plain" }).end("no rpc here");
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    url = new URL(`http://127.0.0.1:${(plain.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((r) => plain.close(() => r())));

  it("the HTTP status gives the code, as gRPC maps it, for every protocol", async () => {
    const statuses = { 400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented", 429: "unavailable", 500: "unknown", 502: "unavailable", 503: "unavailable", 504: "unavailable" };
    for (const p of ["connect", "grpc-web"] as const)
      for (const [status, code] of Object.entries(statuses)) {
        const c = prepareCall(rpcOf("Echo", p, "proto", {}), TargetService.method.echo, 1000);
        // The plain server reads the status from the method's name: /kannon…/Fail503.
        const req = c.request(new URL(`${url.origin}/svc/Fail${status}`), c.headers({}), c.encode("{}") as Uint8Array, false);
        const r = await exchange.send(req, { body: true, headers: true });
        expect(r.ok && c.classify(r, req, false).code, `${p} ${status}`).toBe(code);
      }
  });

  it("a 200 without grpc-status is internal; the client's own deadline is deadline_exceeded", async () => {
    const c = prepareCall(rpcOf("Echo", "grpc-web", "proto"), TargetService.method.echo, 1000);
    const req = c.request(new URL(`${url.origin}/svc/Fail200`), c.headers({}), c.encode("{}") as Uint8Array, false);
    const r = await exchange.send(req, { body: true, headers: true });
    expect(r.ok && c.classify(r, req, false).code).toBe("internal");
    expect(codeOfFailure("timeout")).toBe("deadline_exceeded");
    expect(codeOfFailure("connect_refused")).toBeUndefined();
  });
});

describe("requests that cannot be sent", () => {
  it("a request JSON that does not fit names the message and the field", () => {
    const c = prepareCall(rpcOf("Echo", "connect", "proto"), TargetService.method.echo, 1000);
    const r = c.encode('{"txt": 1}');
    expect(r).toEqual({ problem: expect.stringContaining("kannon.target.v1.EchoRequest") });
    expect((r as { problem: string }).problem).toContain("txt");
  });

  it("client and bidi streaming methods are refused by name", () => {
    const bidi = ServerReflection.method.serverReflectionInfo;
    expect(() => prepareCall(rpcOf("Echo", "grpc", "proto"), bidi, 1000)).toThrow(/grpc.reflection.v1.ServerReflection\/ServerReflectionInfo is bidi-streaming/);
  });
});

describe("EnvelopeReader", () => {
  it("reads envelopes split anywhere: byte by byte, or all in one chunk", () => {
    const msg = (n: number) => envelope(0, new Uint8Array(n).fill(n));
    const end = envelope(FLAG_END_STREAM, new TextEncoder().encode("{}"));
    const body = Buffer.concat([msg(3), msg(0), msg(300), end]);
    const whole = new EnvelopeReader(FLAG_END_STREAM, true);
    whole.push(body, 5);
    const bytewise = new EnvelopeReader(FLAG_END_STREAM, true);
    body.forEach((b, i) => bytewise.push(Uint8Array.of(b), 100 + i));
    for (const r of [whole, bytewise]) {
      expect(r.messages).toBe(3);
      expect([...r.first!.payload]).toEqual([3, 3, 3]);
      expect(new TextDecoder().decode(r.end!.payload)).toBe("{}");
      expect(r.cut).toBe(false);
    }
    expect(whole.firstMs).toBe(5);
    // The first message's last byte is the body's 8th (index 7).
    expect(bytewise.firstMs).toBe(107);
    const cut = new EnvelopeReader(FLAG_END_STREAM, false);
    // Two whole envelopes (8 + 5 bytes) and one byte of the third.
    cut.push(body.subarray(0, 14), 0);
    expect([cut.messages, cut.cut, cut.first]).toEqual([2, true, undefined]);
  });
});
