/**
 * The frame layer of one HTTP/2 connection of the fast path (h2-connection.ts): it splits the
 * socket's bytes into frames (RFC 9113 §4), keeps of a response only what a count needs (the
 * `:status` and `grpc-status` of each header block, decoded by hpack.ts and assembled across
 * CONTINUATION frames; the DATA bytes without padding; END_STREAM), answers SETTINGS and PING, and
 * keeps the connection's receive window open. What concerns the streams (headers, data, resets,
 * GOAWAY, the peer's MAX_CONCURRENT_STREAMS, send window) it tells its {@link H2FrameSink}.
 *
 * One reader per connected socket: it starts at the server's preface (a first frame that is not
 * SETTINGS, or a large one, is an h2c target answering in HTTP/1.1: `h2_protocol`) and is stopped
 * when the connection forgets its socket, even in the middle of a read.
 */
import { codeError } from "./error-kind.js";
import { ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING, PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM, SETTINGS, WINDOW_UPDATE, frame } from "./h2-frames.js";
import { HpackDecoder } from "./hpack.js";

/** What a reader tells its connection, frame by frame (called directly, no event objects). */
export interface H2FrameSink {
  /** Queues `f` (an answer of the protocol: SETTINGS or PING ACK, WINDOW_UPDATE) to go out with the next write. */
  queue(f: Buffer): void;
  /** The server's SETTINGS arrived (acknowledged already); `maxStreams`: its MAX_CONCURRENT_STREAMS when given. */
  onSettings(maxStreams: number | undefined): void;
  /** The server opened the connection's send window by `increment` bytes. */
  onWindowUpdate(increment: number): void;
  /** A header block of `stream`: its status (0 when it has none: trailers) and `grpc-status`. */
  onHeaders(stream: number, status: number, grpcStatus: string | undefined, endStream: boolean): void;
  /** A DATA frame of `stream` carrying `bytes` body bytes. */
  onData(stream: number, bytes: number, endStream: boolean): void;
  /** The server reset `stream` with error `code`. */
  onReset(stream: number, code: number): void;
  /** GOAWAY: streams above `last` were not processed; `code` its error code. */
  onGoaway(last: number, code: number): void;
}

const SETTINGS_ACK = frame(SETTINGS, ACK, 0);
/** Replenish the connection's receive window after this many DATA bytes. */
const WINDOW_REFILL = 1 << 30;
/** SETTINGS_MAX_CONCURRENT_STREAMS. */
const MAX_CONCURRENT_STREAMS = 0x3;

/** The frame reader of one connected socket; see the file comment. */
export class H2FrameReader {
  /** The server's first SETTINGS arrived: the connection speaks HTTP/2. */
  gotSettings = false;
  private stopped = false;
  private readonly decoder = new HpackDecoder();
  /** The start of a frame not yet whole. */
  private buffered: Buffer | undefined;
  /** A header block being assembled across CONTINUATION frames. */
  private block: { stream: number; endStream: boolean; parts: Buffer[] } | undefined;
  /** DATA bytes received since the receive window was last replenished. */
  private received = 0;

  constructor(private readonly sink: H2FrameSink) {}

  /** Stops reading: the connection forgot the socket (a read under way ends after the current frame). */
  stop(): void {
    this.stopped = true;
    this.gotSettings = false;
    this.buffered = undefined;
    this.block = undefined;
  }

  /** Handles the whole frames of `chunk` (after what an earlier read left). Throws a `KANNON_H2_PROTOCOL` error on a protocol violation. */
  read(chunk: Buffer): void {
    let buf = chunk;
    if (this.buffered !== undefined) {
      buf = Buffer.concat([this.buffered, chunk]);
      this.buffered = undefined;
    }
    let off = 0;
    while (buf.length - off >= 9) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      const type = buf[off + 3]!;
      if (!this.gotSettings && type !== SETTINGS) throw codeError("the target did not answer in HTTP/2", "KANNON_H2_PROTOCOL");
      if (len > 16_777_215 || (!this.gotSettings && len > 1024)) throw codeError("the target did not answer in HTTP/2", "KANNON_H2_PROTOCOL");
      if (buf.length - off < 9 + len) break;
      const flags = buf[off + 4]!;
      const stream = buf.readUInt32BE(off + 5) & 0x7fffffff;
      this.frame(type, flags, stream, buf, off + 9, off + 9 + len);
      off += 9 + len;
      if (this.stopped) return;
    }
    if (off < buf.length) this.buffered = buf.subarray(off);
  }

  private frame(type: number, flags: number, stream: number, buf: Buffer, start: number, end: number): void {
    if (this.block !== undefined && type !== CONTINUATION) throw codeError("a header block was interrupted", "KANNON_H2_PROTOCOL");
    switch (type) {
      case DATA: {
        const len = end - start;
        this.received += len;
        if (this.received >= WINDOW_REFILL) this.refill();
        this.sink.onData(stream, flags & PADDED ? len - 1 - buf[start]! : len, (flags & END_STREAM) !== 0);
        return;
      }
      case HEADERS: {
        let from = start;
        let to = end;
        if (flags & PADDED) to -= buf[from++]!;
        if (flags & PRIORITY_FLAG) from += 5;
        if (from > to) throw codeError("bad HEADERS padding", "KANNON_H2_PROTOCOL");
        if (flags & END_HEADERS) return this.headers(stream, (flags & END_STREAM) !== 0, buf, from, to);
        this.block = { stream, endStream: (flags & END_STREAM) !== 0, parts: [Buffer.from(buf.subarray(from, to))] };
        return;
      }
      case CONTINUATION: {
        const block = this.block;
        if (block === undefined || block.stream !== stream) throw codeError("CONTINUATION out of place", "KANNON_H2_PROTOCOL");
        block.parts.push(Buffer.from(buf.subarray(start, end)));
        if (flags & END_HEADERS) {
          this.block = undefined;
          const whole = Buffer.concat(block.parts);
          this.headers(stream, block.endStream, whole, 0, whole.length);
        }
        return;
      }
      case SETTINGS: {
        if (flags & ACK) return;
        this.gotSettings = true;
        let maxStreams: number | undefined;
        for (let at = start; at + 6 <= end; at += 6) if (buf.readUInt16BE(at) === MAX_CONCURRENT_STREAMS) maxStreams = buf.readUInt32BE(at + 2);
        this.sink.queue(SETTINGS_ACK);
        return this.sink.onSettings(maxStreams);
      }
      case PING:
        if (!(flags & ACK)) this.sink.queue(frame(PING, ACK, 0, buf.subarray(start, end)));
        return;
      case WINDOW_UPDATE:
        if (stream === 0) this.sink.onWindowUpdate(buf.readUInt32BE(start) & 0x7fffffff);
        return;
      case RST_STREAM:
        return this.sink.onReset(stream, buf.readUInt32BE(start));
      case GOAWAY:
        return this.sink.onGoaway(buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4));
      case PUSH_PROMISE:
        throw codeError("PUSH_PROMISE with push disabled", "KANNON_H2_PROTOCOL");
      default:
        return;
    }
  }

  /** A whole header block: decoded (always, for HPACK's dynamic table), its status and `grpc-status` told. */
  private headers(stream: number, endStream: boolean, buf: Buffer, from: number, to: number): void {
    const status = this.decoder.decode(buf, from, to);
    this.sink.onHeaders(stream, status, this.decoder.grpcStatus, endStream);
  }

  private refill(): void {
    const increment = Buffer.allocUnsafe(4);
    increment.writeUInt32BE(this.received, 0);
    this.received = 0;
    this.sink.queue(frame(WINDOW_UPDATE, 0, 0, increment));
  }
}
