/**
 * One HTTP/2 connection of the fast path (h2-fast.ts): a socket (h2c, or TLS that chose `h2` by
 * ALPN) carrying up to `streams` copies of one prebuilt request at once (h2-frames.ts), its
 * responses read by a frame reader (h2-frame-reader.ts: it keeps only what a count needs, answers
 * SETTINGS and PING, keeps the receive window open). The connection honours GOAWAY, RST_STREAM and
 * the peer's MAX_CONCURRENT_STREAMS, and waits for send window before a request body goes out.
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
import { dialSocket, h2ErrorKind, MAX_RETRIES, REFUSED_STREAM, resetError, type DialTarget } from "./h2-dial.js";
import { H2FrameReader, type H2FrameSink } from "./h2-frame-reader.js";
import { MAX_STREAM_ID, RST_STREAM, clientPreface, frame, requestOn, type RequestFrames } from "./h2-frames.js";

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
/** RST_STREAM's payload: error code CANCEL. */
const CANCEL = new Uint8Array([0, 0, 0, 0x8]);

/** One connection of the fast path; see the file comment. */
export class H2Connection implements H2FrameSink {
  private socket: Socket | undefined;
  private dialing = false;
  private readonly streams = new Map<number, H2Slot>();
  /** When the streams' requests were first given to the connection, for the sweeper. */
  private readonly sentAt = new Map<number, number>();
  /** Requests waiting for the connection (its SETTINGS, a stream, send window), oldest first, with when they were given. */
  private pending = new Map<H2Slot, number>();
  private nextId = 1;
  /** The frame reader of the socket (before the first, and once it is forgot: one that saw no SETTINGS). */
  private reader = new H2FrameReader(this);
  private out: Buffer[] = [];
  private outBytes = 0;
  private inRead = false;
  private flushQueued = false;
  /** Streams the peer allows at once. */
  private peerMax = Number.POSITIVE_INFINITY;
  /** The connection's send window (a stream's own is at least 65,535 unless the peer lowers it, and a body here is at most 16,384). */
  private sendWindow = 65535;
  /** No new streams (GOAWAY received, or stream ids used up): dialed again once idle. */
  private retiring = false;

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
    if (!this.reader.gotSettings || this.retiring || this.pending.size > 0 || this.streams.size >= this.peerMax || (frames.bodyBytes > 0 && this.sendWindow < frames.bodyBytes)) {
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
    this.sendWindow -= frames.bodyBytes;
    slot.status = 0;
    slot.bytes = 0;
    slot.grpcStatus = undefined;
    this.streams.set(id, slot);
    this.sentAt.set(id, at);
    this.queue(requestOn(frames, id));
  }

  /** Queues `f` to go out with the next write (at the end of the read under way, else next tick). */
  queue(f: Buffer): void {
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
      this.reader = new H2FrameReader(this);
      this.nextId = 1;
      this.sendWindow = 65535;
      socket.on("data", (chunk: Buffer) => this.read(socket, chunk));
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

  private read(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.inRead = true;
    try {
      this.reader.read(chunk);
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

  /** The server's SETTINGS (the reader's): requests waiting for them, or for streams it now allows, go out. */
  onSettings(maxStreams: number | undefined): void {
    if (maxStreams !== undefined) this.peerMax = maxStreams;
    if (this.pending.size > 0) this.sendPending();
  }

  /** The connection's send window grew (the reader's): requests waiting for it go out. */
  onWindowUpdate(increment: number): void {
    this.sendWindow += increment;
    if (this.pending.size > 0) this.sendPending();
  }

  /** A header block (the reader's): an informational (1xx) head is followed by the final one; trailers have no status. */
  onHeaders(stream: number, status: number, grpcStatus: string | undefined, endStream: boolean): void {
    const slot = this.streams.get(stream);
    if (slot === undefined) return;
    if (status >= 200 && slot.status === 0) slot.status = status;
    if (grpcStatus !== undefined) slot.grpcStatus = grpcStatus;
    if (endStream) this.end(stream, slot);
  }

  /** Response body bytes (the reader's). */
  onData(stream: number, bytes: number, endStream: boolean): void {
    const slot = this.streams.get(stream);
    if (slot === undefined) return;
    slot.bytes += bytes;
    if (endStream) this.end(stream, slot);
  }

  /** RST_STREAM (the reader's): a refused stream is sent again, another reset fails its request. */
  onReset(stream: number, code: number): void {
    const slot = this.streams.get(stream);
    if (slot === undefined) return;
    const at = this.sentAt.get(stream)!;
    this.forget(stream);
    const kind = h2ErrorKind(resetError(code));
    if (code === REFUSED_STREAM) this.retry(slot, at, kind);
    else slot.failed(kind, nowMs());
    this.ended();
  }

  /** GOAWAY (the reader's): no new streams; those above `last` were not processed (RFC 9113 §6.8): sent again on the next connection, unless our requests are at fault. */
  onGoaway(last: number, code: number): void {
    this.retiring = true;
    const kind = code === 1 ? "h2_protocol" : "reset";
    const now = nowMs();
    for (const [id, slot] of [...this.streams]) {
      if (id <= last) continue;
      const at = this.sentAt.get(id)!;
      this.forget(id);
      if (code === 1) slot.failed(kind, now);
      else this.retry(slot, at, kind);
    }
    this.ended();
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
    this.reader.stop();
    this.peerMax = Number.POSITIVE_INFINITY;
    this.retiring = false;
    this.out = [];
    this.outBytes = 0;
  }

  private drop(socket: Socket, err: Error): void {
    if (socket !== this.socket) return;
    // Closed before the server's SETTINGS: it does not speak HTTP/2.
    this.fail(this.reader.gotSettings || (err as { code?: string }).code !== "UND_ERR_SOCKET" ? err : codeError("the target did not answer in HTTP/2", "KANNON_H2_PROTOCOL"), this.retiring);
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
      this.queue(frame(RST_STREAM, 0, id, CANCEL));
      slot.failed("timeout", now);
      freed = true;
    }
    if (freed) this.ended();
  }
}
