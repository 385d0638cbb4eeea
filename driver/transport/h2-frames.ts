/**
 * HTTP/2 framing (RFC 9113 §4, §6) for the fast path: the constants, the client's connection
 * preface, and the prebuilt frames of one fixed request (its HEADERS, and its DATA when it has a
 * body), copied per request with only the stream id written in.
 */
import { encodeHeaderBlock } from "./hpack.js";

export const DATA = 0x0;
export const HEADERS = 0x1;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

/** The largest frame payload both sides accept without a setting (SETTINGS_MAX_FRAME_SIZE's initial value). */
export const MAX_FRAME = 16384;
/** The largest window (2^31 − 1). */
export const MAX_WINDOW = 0x7fffffff;
/** The highest client stream id. */
export const MAX_STREAM_ID = 0x7fffffff;

/** A frame: its 9-byte header and payload. */
export function frame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  f.set(payload, 9);
  return f;
}

/**
 * What the client sends first: the preface, SETTINGS (no push; streams' receive windows at the
 * maximum, so that only the connection's window needs updates) and a WINDOW_UPDATE opening the
 * connection's receive window to the maximum.
 */
export function clientPreface(): Buffer {
  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(MAX_WINDOW, 8);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(MAX_WINDOW - 65535, 0);
  return Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), frame(SETTINGS, 0, 0, settings), frame(WINDOW_UPDATE, 0, 0, increment)]);
}

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2); `host` becomes `:authority`. */
const CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]);

/**
 * The header fields of a request: pseudo-headers first (`:authority` from a `host` header when
 * given), then the other headers lower-cased, minus those HTTP/2 forbids (`te` only as `trailers`).
 */
export function requestFields(method: string, url: URL, headers: Record<string, string>): [string, string][] {
  let authority = url.host;
  const rest: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === "host") authority = value;
    else if (lower === "te" ? value.toLowerCase() === "trailers" : !CONNECTION_HEADERS.has(lower)) rest.push([lower, value]);
  }
  return [[":method", method], [":scheme", url.protocol.slice(0, -1)], [":authority", authority], [":path", url.pathname + url.search], ...rest];
}

/** One fixed request's frames, stream id 0 (written per request at offsets 5 and, with a body, `dataAt` + 5). */
export interface RequestFrames {
  bytes: Buffer;
  /** Offset of the DATA frame; -1 without a body. */
  dataAt: number;
  /** Body bytes (counted against the send windows). */
  bodyBytes: number;
}

/**
 * The frames of a fixed request, or undefined when they do not fit the fast path: a header block
 * or a body over {@link MAX_FRAME} (one HEADERS frame, at most one DATA frame).
 */
export function requestFrames(method: string, url: URL, headers: Record<string, string>, body: Uint8Array | undefined): RequestFrames | undefined {
  const block = encodeHeaderBlock(requestFields(method, url, headers));
  if (block.length > MAX_FRAME || (body?.length ?? 0) > MAX_FRAME) return undefined;
  const hasBody = body !== undefined && body.length > 0;
  const head = frame(HEADERS, END_HEADERS | (hasBody ? 0 : END_STREAM), 0, block);
  if (!hasBody) return { bytes: head, dataAt: -1, bodyBytes: 0 };
  return { bytes: Buffer.concat([head, frame(DATA, END_STREAM, 0, body)]), dataAt: head.length, bodyBytes: body.length };
}

/** `frames` copied for stream `id`: the one request's frames with its stream id written in. */
export function requestOn(frames: RequestFrames, id: number): Buffer {
  const f = Buffer.allocUnsafe(frames.bytes.length);
  frames.bytes.copy(f);
  f.writeUInt32BE(id, 5);
  if (frames.dataAt >= 0) f.writeUInt32BE(id, frames.dataAt + 5);
  return f;
}
