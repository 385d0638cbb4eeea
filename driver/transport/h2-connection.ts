/**
 * One HTTP/2 connection of the fast path (h2-fast.ts): a socket (h2c, or TLS that chose `h2` by
 * ALPN) carrying up to `streams` copies of one prebuilt request at once (h2-frames.ts), its
 * responses read by a frame parser that keeps only what a count needs: the `:status` (hpack.ts),
 * the DATA bytes, END_STREAM. It answers SETTINGS and PING, honours GOAWAY, RST_STREAM and the
 * peer's MAX_CONCURRENT_STREAMS, keeps the connection's receive window open, and waits for send
 * window before a request body goes out.
 *
 * Writes are batched: requests sent while a read is handled (a closed loop's next request) or in
 * the same turn (the open model's due requests) go out in one socket write.
 *
 * Requests wait (oldest first) for the server's first SETTINGS and for a stream under its
 * MAX_CONCURRENT_STREAMS; each stream that ends hands its place on. A request waits at most the
 * request timeout in all (waiting, then in flight). A request the server did not process (a stream
 * refused with REFUSED_STREAM, or above a GOAWAY's last stream id) is sent again, a few times at
 * most. After a GOAWAY (or with the stream ids used up) the connection takes no new streams; once
 * its streams ended it closes and the requests waiting go on a new connection.
 *
 * A connection that fails (refused, reset, a protocol error: an h2c target answering in HTTP/1.1 is
 * `h2_protocol`) fails its streams and is dialed again; a TLS server picking HTTP/1.1: owner.fellBack.
 */
import type { Socket } from "node:net";
import { nowMs } from "../clock.js";
import { codeError } from "./error-kind.js";
import { ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, MAX_STREAM_ID, PADDED, PING, PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM, SETTINGS, WINDOW_UPDATE, clientPreface, frame, type RequestFrames } from "./h2-frames.js";
import { dialSocket, h2ErrorKind, MAX_RETRIES, REFUSED_STREAM, resetError, type DialTarget } from "./h2-dial.js";
import { HpackDecoder } from "./hpack.js";

/** One request on a stream: what the connection fills in and tells when it ends. */
export interface H2Slot {
  /** Set by the connection: response status and DATA bytes. */
  status: number;
  bytes: number;
  /** Set by the connection: the response's `grpc-status` (trailers, or trailers-only headers); undefined: none. */
  grpcStatus?: string | undefined;
  /** Set by the connection: times the request was sent again (not processed by the server). */
  retries: number;
  /** The response ended (END_STREAM). */
  done(now: number): void;
  /** The request failed (`kind` of error-kind.ts). */
  failed(kind: string, now: number): void;
}

/** What a connection reports to its transport. */
export interface H2Owner {
  readonly target: DialTarget;
  readonly frames: RequestFrames;
  readonly timeoutMs: number;
  readonly handshake: ((ms: number) => void) | undefined;
  /** Set once the transport is closed: a connection dialed by then is closed at once. */
  readonly closed: boolean;
  /** A TLS server chose HTTP/1.1 by ALPN on `c` (no stream open: its requests are all waiting). */
  fellBack(c: H2Connection): void;
  /** A stream of `c` freed (the open model hands it a waiting request). */
  freed(c: H2Connection): void;
}

const PREFACE = clientPreface();
const SETTINGS_ACK = frame(SETTINGS, ACK, 0);
/** Replenish the connection's receive window after this many DATA bytes. */
const WINDOW_REFILL = 1 << 30;

export class H2Connection {
  private socket: Socket | undefined;
  private dialing = false;
  private readonly streams = new Map<number, H2Slot>();
  /** When the streams' requests were first given to the connection, for the sweeper. */
  private readonly sentAt = new Map<number, number>();
  /** Requests waiting for the connection (its SETTINGS, a stream, send window), oldest first, with when they were given. */
  private pending = new Map<H2Slot, number>();
  private nextId = 1;
  private decoder = new HpackDecoder();
  private out: Buffer[] = [];
  private outBytes = 0;
  private inRead = false;
  private flushQueued = false;
  private buffered: Buffer | undefined;
  private gotSettings = false;
  /** Streams the peer allows at once. */
  private peerMax = Number.POSITIVE_INFINITY;
  /** The connection's send window (a stream's own is at least 65,535 unless the peer lowers it, and a body here is at most 16,384). */
  private sendWindow = 65535;
  private received = 0;
  /** No new streams (GOAWAY received, or stream ids used up): dialed again once idle. */
  private retiring = false;
  /** A header block being assembled across CONTINUATION frames. */
  private block: { stream: number; endStream: boolean; parts: Buffer[] } | undefined;

  constructor(
    private readonly owner: H2Owner,
    /** Streams in flight at most on this connection. */
    readonly capacity: number,
  ) {}

  /** Streams in flight or waiting here. */
  get active(): number {
    return this.streams.size + this.pending.size;
  }

  /** Requests this connection can take now without waiting (none while it retires). */
  get free(): number {
    return this.retiring ? 0 : Math.max(0, Math.min(this.capacity, this.peerMax) - this.active);
  }

  /** Dials ahead of the start. */
  connectAhead(): void {
    if (this.socket === undefined && !this.dialing) this.dial();
  }

  /** Sends `slot`'s request: now if a stream is free, else once one is (dialing when there is no connection). */
  send(slot: H2Slot): void {
    slot.retries = 0;
    this.enqueue(slot, nowMs());
  }

  /** Sends `slot` (given at `at`) now, or queues it behind the requests already waiting. */
  private enqueue(slot: H2Slot, at: number): void {
    const frames = this.owner.frames;
    if (!this.gotSettings || this.retiring || this.pending.size > 0 || this.streams.size >= this.peerMax || (frames.bodyBytes > 0 && this.sendWindow < frames.bodyBytes)) {
      this.pending.set(slot, at);
      if (this.socket === undefined && !this.dialing) this.dial();
      return;
    }
    this.write(slot, at);
  }

  private write(slot: H2Slot, at: number): void {
    const frames = this.owner.frames;
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_STREAM_ID) this.retiring = true;
    const f = Buffer.allocUnsafe(frames.bytes.length);
    frames.bytes.copy(f);
    f.writeUInt32BE(id, 5);
    if (frames.dataAt >= 0) {
      f.writeUInt32BE(id, frames.dataAt + 5);
      this.sendWindow -= frames.bodyBytes;
    }
    slot.status = 0;
    slot.bytes = 0;
    slot.grpcStatus = undefined;
    this.streams.set(id, slot);
    this.sentAt.set(id, at);
    this.queue(f);
  }

  private queue(f: Buffer): void {
    this.out.push(f);
    this.outBytes += f.length;
    if (!this.inRead && !this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket === undefined) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.socket.write(data);
  }

  private dial(): void {
    this.dialing = true;
    dialSocket(this.owner.target, this.owner.timeoutMs, this.owner.handshake, (d) => {
      this.dialing = false;
      // The transport closed while this dialed: its requests were failed then; the socket goes.
      if (this.owner.closed) return void ("error" in d || d.socket.destroy());
      if ("error" in d) return this.fail(d.error);
      if (!d.h2) {
        d.socket.destroy();
        return this.owner.fellBack(this);
      }
      const socket = d.socket;
      this.socket = socket;
      this.decoder = new HpackDecoder();
      this.nextId = 1;
      this.sendWindow = 65535;
      this.received = 0;
      socket.on("data", (chunk: Buffer) => this.onData(socket, chunk));
      socket.on("error", (err) => this.drop(socket, err));
      socket.on("close", () => this.drop(socket, codeError("the target closed the connection", "UND_ERR_SOCKET")));
      // Requests wait for the server's SETTINGS (its MAX_CONCURRENT_STREAMS), so a first burst is not refused.
      socket.write(PREFACE);
    });
  }

  private sendPending(): void {
    const waiting = this.pending;
    this.pending = new Map();
    const wasInRead = this.inRead;
    this.inRead = true;
    for (const [slot, at] of waiting) this.enqueue(slot, at);
    this.inRead = wasInRead;
    if (!wasInRead) this.flush();
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.inRead = true;
    try {
      this.parse(chunk);
    } catch (err) {
      this.inRead = false;
      this.out = [];
      this.outBytes = 0;
      socket.destroy(err as Error);
      return;
    }
    this.inRead = false;
    this.flush();
  }

  private parse(chunk: Buffer): void {
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
      if (this.socket === undefined) return;
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
        const slot = this.streams.get(stream);
        if (slot === undefined) return;
        slot.bytes += flags & PADDED ? len - 1 - buf[start]! : len;
        if (flags & END_STREAM) this.end(stream, slot);
        return;
      }
      case HEADERS: {
        let from = start;
        let to = end;
        if (flags & PADDED) to -= buf[from++]!;
        if (flags & PRIORITY_FLAG) from += 5;
        if (from > to) throw codeError("bad HEADERS padding", "KANNON_H2_PROTOCOL");
        if (flags & END_HEADERS) return this.headers(stream, flags & END_STREAM, buf, from, to);
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
          this.headers(stream, block.endStream ? END_STREAM : 0, whole, 0, whole.length);
        }
        return;
      }
      case SETTINGS:
        if (flags & ACK) return;
        this.gotSettings = true;
        for (let at = start; at + 6 <= end; at += 6) {
          const id = buf.readUInt16BE(at);
          const value = buf.readUInt32BE(at + 2);
          if (id === 0x3) this.peerMax = value;
        }
        this.queue(SETTINGS_ACK);
        if (this.pending.size > 0) this.sendPending();
        return;
      case PING:
        if (!(flags & ACK)) this.queue(frame(PING, ACK, 0, buf.subarray(start, end)));
        return;
      case WINDOW_UPDATE:
        if (stream === 0) {
          this.sendWindow += buf.readUInt32BE(start) & 0x7fffffff;
          if (this.pending.size > 0) this.sendPending();
        }
        return;
      case RST_STREAM: {
        const slot = this.streams.get(stream);
        if (slot === undefined) return;
        const at = this.sentAt.get(stream)!;
        this.forget(stream);
        const code = buf.readUInt32BE(start);
        const kind = h2ErrorKind(resetError(code));
        if (code === REFUSED_STREAM) this.retry(slot, at, kind);
        else slot.failed(kind, nowMs());
        this.ended();
        return;
      }
      case GOAWAY: {
        const last = buf.readUInt32BE(start) & 0x7fffffff;
        const code = buf.readUInt32BE(start + 4);
        this.retiring = true;
        const kind = code === 1 ? "h2_protocol" : "reset";
        const now = nowMs();
        // Streams above `last` were not processed (RFC 9113 §6.8): sent again on the next connection, unless our requests are at fault.
        for (const [id, slot] of [...this.streams]) {
          if (id <= last) continue;
          const at = this.sentAt.get(id)!;
          this.forget(id);
          if (code === 1) slot.failed(kind, now);
          else this.retry(slot, at, kind);
        }
        this.ended();
        return;
      }
      case PUSH_PROMISE:
        throw codeError("PUSH_PROMISE with push disabled", "KANNON_H2_PROTOCOL");
      default:
        return;
    }
  }

  private headers(stream: number, endStream: number, buf: Buffer, from: number, to: number): void {
    const status = this.decoder.decode(buf, from, to);
    const slot = this.streams.get(stream);
    if (slot === undefined) return;
    // An informational (1xx) head is followed by the final one; trailers have no status.
    if (status >= 200 && slot.status === 0) slot.status = status;
    if (this.decoder.grpcStatus !== undefined) slot.grpcStatus = this.decoder.grpcStatus;
    if (endStream) this.end(stream, slot);
  }

  private end(stream: number, slot: H2Slot): void {
    this.forget(stream);
    if (slot.status === 0) slot.failed("h2_protocol", nowMs());
    else slot.done(nowMs());
    this.ended();
  }

  /** Streams ended: a retiring connection closes once idle, else the requests waiting take the free streams; the owner may hand on more. */
  private ended(): void {
    if (this.retiring) this.retireIfIdle();
    else if (this.pending.size > 0 && this.socket !== undefined) this.sendPending();
    this.owner.freed(this);
  }

  /** `slot` was not processed by the server: it waits to be sent again, or fails as `kind` after {@link MAX_RETRIES}. */
  private retry(slot: H2Slot, at: number, kind: string): void {
    if (++slot.retries > MAX_RETRIES) slot.failed(kind, nowMs());
    else this.pending.set(slot, at);
  }

  private forget(stream: number): void {
    this.streams.delete(stream);
    this.sentAt.delete(stream);
  }

  private refill(): void {
    const increment = Buffer.allocUnsafe(4);
    increment.writeUInt32BE(this.received, 0);
    this.received = 0;
    this.queue(frame(WINDOW_UPDATE, 0, 0, increment));
  }

  /** A retiring connection with nothing in flight closes; its waiting requests go on a new one. */
  private retireIfIdle(): void {
    if (this.streams.size > 0) return;
    const socket = this.socket;
    this.reset();
    socket?.destroy();
    if (this.pending.size > 0 && !this.dialing) this.dial();
  }

  /** Forgets the socket and its state: the next request dials a new connection. */
  private reset(): void {
    this.socket = undefined;
    this.gotSettings = false;
    this.peerMax = Number.POSITIVE_INFINITY;
    this.retiring = false;
    this.buffered = undefined;
    this.block = undefined;
    this.out = [];
    this.outBytes = 0;
  }

  private drop(socket: Socket, err: Error): void {
    if (socket !== this.socket) return;
    // Closed before the server's SETTINGS: it does not speak HTTP/2.
    this.fail(this.gotSettings || (err as { code?: string }).code !== "UND_ERR_SOCKET" ? err : codeError("the target did not answer in HTTP/2", "KANNON_H2_PROTOCOL"), this.retiring);
  }

  /**
   * Ends the connection now: every request on it fails with `err`'s kind, and so does every one
   * waiting for it unless `redial` (the server sent GOAWAY: they go on a new connection).
   */
  fail(err: Error, redial = false): void {
    const socket = this.socket;
    this.reset();
    socket?.destroy();
    const kind = h2ErrorKind(err);
    const now = nowMs();
    const failed = [...this.streams.values()];
    if (!redial) failed.push(...this.pending.keys());
    this.streams.clear();
    this.sentAt.clear();
    if (!redial) this.pending = new Map();
    else if (this.pending.size > 0 && !this.dialing) this.dial();
    for (const slot of failed) slot.failed(kind, now);
    if (failed.length > 0) this.owner.freed(this);
  }

  /** Fails the requests given before `oldestMs` (request timeout), waiting or in flight (their streams cancelled); the freed streams go on. */
  expire(oldestMs: number): void {
    const now = nowMs();
    for (const [slot, at] of this.pending) {
      if (at >= oldestMs) continue;
      this.pending.delete(slot);
      slot.failed("timeout", now);
    }
    let freed = false;
    for (const [id, sent] of this.sentAt) {
      if (sent >= oldestMs) continue;
      const slot = this.streams.get(id)!;
      this.forget(id);
      const cancel = Buffer.alloc(4);
      cancel.writeUInt32BE(0x8, 0);
      this.queue(frame(RST_STREAM, 0, id, cancel));
      slot.failed("timeout", now);
      freed = true;
    }
    if (freed) this.ended();
  }
}
