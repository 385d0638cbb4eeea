/**
 * RPCs on the wire: a call of a unary or server-streaming method encoded as an HTTP request
 * (Connect, gRPC or gRPC-Web; codec proto or json; gzip or none) and its response classified into
 * an RPC code (codes.ts), the messages it streamed and when the first arrived. The request goes
 * through any Exchange (HTTP/1.1 or h2); nothing here touches a socket.
 *
 * - Connect unary: the message as the raw body (`application/proto|json`), `connect-protocol-version: 1`,
 *   `connect-timeout-ms`; an error is a non-200 status with a JSON body `{code, message}`.
 * - Connect server stream: envelopes (`application/connect+proto|json`), ended by the end-stream
 *   envelope (flag 0x02) whose JSON holds the error, if any.
 * - gRPC: envelopes (`application/grpc+proto|json`), `te: trailers`, `grpc-timeout`; the status in
 *   `grpc-status` of the trailers, or of the headers (a trailers-only response).
 * - gRPC-Web: envelopes (`application/grpc-web+proto|json`), the trailers in a last envelope
 *   flagged 0x80 (or trailers-only headers).
 * A response without an RPC status takes the code of its HTTP status (codes.ts); the call's own
 * deadline firing (the exchange's `timeout`) is `deadline_exceeded`.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { fromBinary, fromJsonString, toBinary, toJsonString, type DescMethod, type Registry } from "@bufbuild/protobuf";
import { RpcCodec, RpcCompression, RpcProtocol, type Rpc } from "../gen/kannon/v1/protocol_pb.js";
import type { ExchangeKeep, ExchangeRequest, ExchangeResult } from "../driver/transport/exchange.js";
import { codeOfHttpStatus, codeOfName, grpcCode } from "./codes.js";
import { envelope, EnvelopeReader, FLAG_COMPRESSED, FLAG_END_STREAM, FLAG_TRAILERS, type Frame } from "./envelope.js";

/** The wire protocol of a call. */
export type RpcProtocolName = "connect" | "grpc" | "grpc-web";

/** A response the exchange got: what {@link RpcCall.classify} reads. */
export type ExchangeResponse = Extract<ExchangeResult, { ok: true }>;

/** What a call's response says. */
export interface RpcOutcome {
  code: string;
  /** A server stream's messages received; 0 for a unary call. */
  messages: number;
  /** When a server stream's first message arrived (epoch ms); NaN for a unary call or none. */
  firstMessageMs: number;
  /** The response message (a stream's first) as protobuf JSON, when asked for and received. */
  message: Uint8Array | undefined;
}

/** One call's request, with the reader its enveloped response body goes through (fed by onBody). */
export interface RpcRequest extends ExchangeRequest {
  reader: EnvelopeReader | undefined;
}

/** The protocol's name for the spec's enum (unspecified: Connect). */
export function protocolName(p: RpcProtocol): RpcProtocolName {
  return p === RpcProtocol.GRPC ? "grpc" : p === RpcProtocol.GRPC_WEB ? "grpc-web" : "connect";
}

/** The exchange failure that is the call's own deadline: its code; other failures stay error kinds (undefined). */
export function codeOfFailure(kind: string): string | undefined {
  return kind === "timeout" ? "deadline_exceeded" : undefined;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A method's calls as a test sends them: the protocol's headers fixed once, each message encoded by {@link encode}. */
export class RpcCall {
  readonly protocol: RpcProtocolName;
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly streaming: boolean;
  /** The deadline sent to the server, and the call's timeout. */
  readonly timeoutMs: number;
  private readonly json: boolean;
  private readonly gzip: boolean;
  private readonly fixedHeaders: Record<string, string>;
  /** Whether the body goes in envelopes (all but Connect unary). */
  private readonly enveloped: boolean;
  /**
   * What the exchange keeps of a response: the headers (and trailers: the status, the encodings),
   * and the body of a Connect unary call (its message or error); an enveloped body goes through
   * the request's reader instead.
   */
  readonly keep: ExchangeKeep;

  constructor(
    rpc: Rpc,
    private readonly method: DescMethod,
    defaultTimeoutMs: number,
    private readonly registry?: Registry,
  ) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming")
      throw new Error(`${method.parent.typeName}/${method.name} is ${method.methodKind.replace("_", "-")}: only unary and server-streaming methods can be called`);
    this.protocol = protocolName(rpc.protocol);
    this.path = `/${method.parent.typeName}/${method.name}`;
    this.streaming = method.methodKind === "server_streaming";
    this.timeoutMs = rpc.timeoutMs || defaultTimeoutMs;
    this.json = rpc.codec === RpcCodec.JSON;
    this.gzip = rpc.compression === RpcCompression.GZIP;
    this.enveloped = this.protocol !== "connect" || this.streaming;
    this.fixedHeaders = this.protocolHeaders();
    this.keep = { body: !this.enveloped, headers: true };
  }

  private protocolHeaders(): Record<string, string> {
    const codec = this.json ? "json" : "proto";
    const h: Record<string, string> = {};
    if (this.protocol === "connect") {
      h["content-type"] = this.streaming ? `application/connect+${codec}` : `application/${codec}`;
      h["connect-protocol-version"] = "1";
      h["connect-timeout-ms"] = String(Math.min(this.timeoutMs, 9_999_999_999));
      if (this.gzip) {
        const prefix = this.streaming ? "connect-" : "";
        h[`${prefix}content-encoding`] = "gzip";
        h[`${prefix}accept-encoding`] = "gzip";
      }
      return h;
    }
    h["content-type"] = this.protocol === "grpc" ? `application/grpc+${codec}` : `application/grpc-web+${codec}`;
    if (this.protocol === "grpc") h["te"] = "trailers";
    else h["x-grpc-web"] = "1";
    h["grpc-timeout"] = `${Math.min(this.timeoutMs, 99_999_999)}m`;
    if (this.gzip) {
      h["grpc-encoding"] = "gzip";
      h["grpc-accept-encoding"] = "gzip";
    }
    return h;
  }

  /** The request body for a message written as protobuf JSON, or the problem with the JSON. */
  encode(messageJson: string): Uint8Array | { problem: string } {
    let bytes: Uint8Array;
    try {
      const input = this.method.input;
      const message = fromJsonString(input, messageJson.trim() === "" ? "{}" : messageJson, this.registry ? { registry: this.registry } : undefined);
      bytes = this.json ? utf8.encode(toJsonString(input, message, this.registry ? { registry: this.registry } : undefined)) : toBinary(input, message);
    } catch (err) {
      return { problem: `the request JSON does not fit ${this.method.input.typeName}: ${(err as Error).message}` };
    }
    if (this.gzip) bytes = gzipSync(bytes);
    return this.enveloped ? envelope(this.gzip ? FLAG_COMPRESSED : 0, bytes) : bytes;
  }

  /** The headers of every call: the protocol's over `metadata` (the test's headers). */
  headers(metadata: Readonly<Record<string, string>>): Record<string, string> {
    const h: Record<string, string> = {};
    for (const [name, value] of Object.entries(metadata)) h[name.toLowerCase()] = value;
    return Object.assign(h, this.fixedHeaders);
  }

  /** The call's URL at `origin`'s origin. */
  url(origin: URL): URL {
    return new URL(origin.origin + this.path);
  }

  /** One call: POST `url` with `headers` ({@link headers}) and `body` ({@link encode}); `keepMessage` when checks read the response message. */
  request(url: URL, headers: Record<string, string>, body: Uint8Array, keepMessage: boolean): RpcRequest {
    if (!this.enveloped) return { method: "POST", url, headers, body, reader: undefined };
    const reader = new EnvelopeReader(this.protocol === "connect" ? FLAG_END_STREAM : FLAG_TRAILERS, keepMessage);
    return { method: "POST", url, headers, body, reader, onBody: (chunk, nowMs) => reader.push(chunk, nowMs) };
  }

  /** The code, messages and (when asked) the message of the response to `req` ({@link request}). */
  classify(r: ExchangeResponse, req: RpcRequest, wantMessage: boolean): RpcOutcome {
    const reader = req.reader;
    // An exchange that did not hand the chunks to onBody but kept the body: read at its end.
    if (reader && reader.bytes === 0 && r.body.length > 0) reader.push(r.body, r.endMs);
    const outcome: RpcOutcome = { code: "ok", messages: 0, firstMessageMs: Number.NaN, message: undefined };
    if (!reader) {
      const body = decode(r.body, header(r.headers, "content-encoding"));
      if (r.status !== 200) outcome.code = connectErrorCode(body) ?? codeOfHttpStatus(r.status);
      else if (wantMessage && body) outcome.message = this.messageJson(body);
      return outcome;
    }
    if (this.streaming) {
      outcome.messages = reader.messages;
      outcome.firstMessageMs = reader.firstMs;
    }
    if (wantMessage && reader.first) outcome.message = this.messageJson(this.payload(reader.first, r));
    outcome.code = this.protocol === "connect" ? this.connectStreamCode(r, reader) : grpcResponseCode(r, reader.end);
    return outcome;
  }

  /** An envelope's payload, decompressed as the response's encoding says; undefined when it cannot be. */
  private payload(frame: Frame, r: ExchangeResponse): Uint8Array | undefined {
    if ((frame.flags & FLAG_COMPRESSED) === 0) return frame.payload;
    return decode(frame.payload, header(r.headers, this.protocol === "connect" ? "connect-content-encoding" : "grpc-encoding"));
  }

  private connectStreamCode(r: ExchangeResponse, reader: EnvelopeReader): string {
    if (r.status !== 200) return connectErrorCode(decode(r.body, header(r.headers, "content-encoding"))) ?? codeOfHttpStatus(r.status);
    if (!reader.end) return "internal";
    const end = parseJson(this.payload(reader.end, r));
    const error = (end as { error?: { code?: unknown } } | undefined)?.error;
    return error === undefined ? "ok" : (codeOfName(error.code) ?? "unknown");
  }

  /** A response message as protobuf JSON (the json codec's as it came); undefined when it does not decode. */
  private messageJson(bytes: Uint8Array | undefined): Uint8Array | undefined {
    if (!bytes || this.json) return bytes;
    try {
      const output = this.method.output;
      return utf8.encode(toJsonString(output, fromBinary(output, bytes), this.registry ? { registry: this.registry } : undefined));
    } catch {
      return undefined;
    }
  }
}

/** The call of `method` that `rpc` describes. Throws naming the method when it is client or bidi streaming. */
export function prepareCall(rpc: Rpc, method: DescMethod, defaultTimeoutMs: number, registry?: Registry): RpcCall {
  return new RpcCall(rpc, method, defaultTimeoutMs, registry);
}

/** gRPC and gRPC-Web: `grpc-status` of the trailers (h2 trailers, or the 0x80 frame), else of the headers (trailers-only). */
function grpcResponseCode(r: ExchangeResponse, end: Frame | undefined): string {
  if (r.status !== 200) return codeOfHttpStatus(r.status);
  return grpcCode(200, header(r.trailers, "grpc-status") ?? (end && trailerFrameStatus(end.payload)) ?? header(r.headers, "grpc-status"));
}

/** `grpc-status` of a gRPC-Web trailers frame (`name: value` lines). */
function trailerFrameStatus(payload: Uint8Array): string | undefined {
  for (const line of fromUtf8.decode(payload).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === "grpc-status") return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** A header's (first) value by lower-case name. */
export function header(headers: Record<string, string | string[]>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `bytes` decoded from `encoding` (none, identity or gzip); undefined when it cannot be. */
function decode(bytes: Uint8Array | undefined, encoding: string | undefined): Uint8Array | undefined {
  if (!bytes || !encoding || encoding === "identity") return bytes;
  if (encoding !== "gzip") return undefined;
  try {
    return gunzipSync(bytes);
  } catch {
    return undefined;
  }
}

function parseJson(bytes: Uint8Array | undefined): unknown {
  if (!bytes) return undefined;
  try {
    return JSON.parse(fromUtf8.decode(bytes));
  } catch {
    return undefined;
  }
}

/** The code of a Connect error body (`{"code": "unavailable", …}`), when it is one. */
function connectErrorCode(body: Uint8Array | undefined): string | undefined {
  return codeOfName((parseJson(body) as { code?: unknown } | undefined)?.code);
}
