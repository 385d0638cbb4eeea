/**
 * One keep-alive connection of the fast exchange (fast-exchange.ts): a TCP or TLS socket (dial.ts) carrying one
 * request at a time (no pipelining), its bytes built per call (h1-request.ts) and its response read
 * by the pure parser (h1-parser.ts). The head is turned into a header object and the body copied
 * only when the request asks to keep them.
 *
 * As on the transport's connections (h1-connection.ts): a response the parser marks as the
 * connection's last (`connection: close`, HTTP/1.0 without keep-alive, a body framed by the close)
 * ends the connection after it; a protocol error ends it and fails its request as `protocol`; a
 * close or an error fails the request in flight by its error kind. One difference: a request
 * written on a connection reused from the pool that closes before any byte of its answer arrived
 * (the target dropped an idle keep-alive connection as it was written) is sent once more on a new
 * connection, as browsers do, instead of failing as `reset`: only for idempotent methods (RFC 9110
 * §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE). A POST or PATCH the target may have acted on
 * fails as `reset`, so the target never sees one request of the test twice. With the endpoint's `perRequest` (a
 * TLS handshake per request) the client closes the connection after every response.
 *
 * Writes on connected sockets wait for the end of the turn's reads and go out together
 * ({@link queueWrite}); a request's time counts from its write.
 */
import type { Socket } from "node:net";
import { nowMs } from "../clock.js";
import { dial, type Endpoint } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";
import { addHeader, NO_BODY, NO_HEADERS } from "./exchange-response.js";
import type { ExchangeKeep, ExchangeResult } from "./exchange.js";
import { H1ParseError, H1ResponseParser, type H1Events } from "./h1-parser.js";

/** Methods a client may send again after a connection failure (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** A request waiting for, or on, a connection. */
export class H1Job {
  /** Sent once more already, or not to be (see the file comment). */
  retried: boolean;

  constructor(
    method: string,
    readonly bytes: Buffer,
    readonly head: boolean,
    readonly keep: ExchangeKeep,
    readonly onBody: ((chunk: Uint8Array, nowMs: number) => void) | undefined,
    /** When it was sent: set again when its write leaves (see {@link queueWrite}). */
    public sentMs: number,
    readonly resolve: (r: ExchangeResult) => void,
  ) {
    this.retried = !IDEMPOTENT.has(method);
  }

  /** Ends the job as a failure of `err`'s kind. */
  fail(err: unknown): void {
    this.resolve({ ok: false, kind: errorKind(err), sentMs: this.sentMs, endMs: nowMs() });
  }
}

/** Connections and their jobs whose writes wait for the end of this turn's reads. */
const writes: (H1ExchangeConnection | H1Job)[] = [];

/**
 * Writes `job` on `c` after the socket reads of this turn of the event loop (setImmediate runs
 * right after them). Measured (docs/benchmarks.md): written one by one while the answers of a
 * burst are handled (~20 µs of JS between writes in a scenario), each loopback write woke the
 * target anew and cost ~19 µs of CPU inside the write; written together, ~5 µs, the generator's
 * CPU per request fell from ~33 to ~19 µs. The job's time counts from the write.
 */
function queueWrite(c: H1ExchangeConnection, job: H1Job): void {
  if (writes.length === 0) setImmediate(flushWrites);
  writes.push(c, job);
}

function flushWrites(): void {
  const now = nowMs();
  for (let i = 0; i < writes.length; i += 2) (writes[i] as H1ExchangeConnection).write(writes[i + 1] as H1Job, now);
  writes.length = 0;
}

/** What a connection tells its pool. */
export interface H1JobPool {
  /** The connection finished its job and can take another. */
  release(c: H1ExchangeConnection): void;
  /** The connection is gone; `retry`, when given, is a job to send again on another connection. */
  dropped(c: H1ExchangeConnection, retry: H1Job | undefined): void;
}

/** One keep-alive socket to one origin, one job at a time. */
export class H1ExchangeConnection implements H1Events {
  private socket: Socket | undefined;
  private connected = false;
  private readonly parser = new H1ResponseParser(this, false);
  /** The job in flight. */
  job: H1Job | undefined;
  /** Responses read on this socket (0: a new connection). */
  private responses = 0;
  /** Whether any byte of the job's answer arrived. */
  private answered = false;
  private headers = NO_HEADERS;
  private chunks: Buffer[] | undefined;
  private gone = false;
  /** Resolves when the socket connects or fails (for prepare()). */
  private onConnected: ((ok: boolean) => void) | undefined;

  constructor(
    private readonly pool: H1JobPool,
    private readonly endpoint: Endpoint,
    /** Told each TLS handshake's milliseconds. */
    private readonly handshake: ((ms: number) => void) | undefined,
  ) {}

  /** Connects without a job (ahead of the start); resolves whether it connected. */
  connectAhead(): Promise<boolean> {
    return new Promise((resolve) => {
      this.onConnected = resolve;
      this.open();
    });
  }

  /** Sends `job` (connecting first when needed). */
  run(job: H1Job): void {
    this.job = job;
    this.answered = false;
    this.parser.headRequests = job.head;
    if (this.socket === undefined) this.open();
    else if (this.connected) queueWrite(this, job);
  }

  /** Writes `job` queued by {@link queueWrite} (at `now`), unless it ended meanwhile. */
  write(job: H1Job, now: number): void {
    if (this.job !== job || !this.connected || this.socket === undefined) return;
    job.sentMs = now;
    this.socket.write(job.bytes);
  }

  /** Ends the connection now; its job fails with `err`'s kind. */
  fail(err: Error): void {
    if (this.socket) this.socket.destroy(err);
    else this.end(err);
  }

  private open(): void {
    const socket = dial(
      this.endpoint,
      () => {
        this.connected = true;
        this.onConnected?.(true);
        this.onConnected = undefined;
        if (this.job) socket.write(this.job.bytes);
      },
      this.handshake,
      // Read into dial's one buffer (and so, over https, through the native record layer): the
      // parser and body() copy what they keep.
      (chunk) => this.onData(socket, chunk),
    );
    this.socket = socket;
    socket.on("error", () => undefined);
    // The target's FIN: the connection is done now, not when its close event comes a turn later
    // (meanwhile the pool could hand it a request that could only fail).
    socket.on("end", () => {
      if (socket !== this.socket) return;
      this.onClose(socket);
      socket.destroy();
    });
    socket.on("close", () => {
      if (socket === this.socket) this.onClose(socket);
    });
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.answered = true;
    try {
      this.parser.feed(chunk);
    } catch (err) {
      if (!(err instanceof H1ParseError)) throw err;
      if (socket === this.socket) socket.destroy(err);
    }
  }

  private onClose(socket: Socket): void {
    this.onConnected?.(false);
    this.onConnected = undefined;
    const err = (socket as Socket & { errored?: Error | null }).errored;
    // A body framed by the close ends here (its response event resolves the job), unless the close is an error.
    if (this.job && !err) this.parser.end();
    this.end(err ?? codeError(this.connected ? "the target closed the connection" : "connection closed before it was established", "UND_ERR_SOCKET"));
  }

  /** The connection is gone: its job fails (or goes again), and the pool forgets it. */
  private end(err: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.socket = undefined;
    this.connected = false;
    const job = this.job;
    this.job = undefined;
    let retry: H1Job | undefined;
    if (job) {
      const kind = errorKind(err);
      if (this.responses > 0 && !this.answered && !job.retried && kind === "reset") {
        job.retried = true;
        retry = job;
      } else job.fail(err);
    }
    this.pool.dropped(this, retry);
  }

  head(head: string): void {
    const keep = this.job?.keep;
    this.headers = keep?.headers ? parseHeaders(head) : NO_HEADERS;
    this.chunks = keep?.body ? [] : undefined;
  }

  body(buf: Buffer, start: number, end: number): void {
    this.job?.onBody?.(buf.subarray(start, end), nowMs());
    if (this.chunks === undefined) return;
    // The parser may reuse `buf`: a copy (one allocation).
    const copy = Buffer.allocUnsafe(end - start);
    buf.copy(copy, 0, start, end);
    this.chunks.push(copy);
  }

  response(status: number, bytes: number, closeAfter: boolean): boolean {
    const job = this.job;
    if (job === undefined) throw new H1ParseError("a response arrived with no request in flight");
    this.job = undefined;
    this.responses++;
    const chunks = this.chunks;
    const body = chunks === undefined ? NO_BODY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
    const headers = this.headers;
    this.chunks = undefined;
    this.headers = NO_HEADERS;
    job.resolve({ ok: true, status, headers, body, bytes, protocol: "http/1.1", trailers: NO_HEADERS, sentMs: job.sentMs, endMs: nowMs() });
    if (closeAfter || this.socket === undefined || this.endpoint.perRequest) {
      // The target closes this connection (or a handshake per request): the pool opens another one when it needs one.
      const socket = this.socket;
      this.socket = undefined;
      socket?.destroy();
      this.end(codeError("the target closed the connection", "UND_ERR_SOCKET"));
      return false;
    }
    this.pool.release(this);
    return true;
  }
}

/** The headers of a response head (after its status line): lower-case names, repeated ones as arrays. */
export function parseHeaders(head: string): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let at = head.indexOf("\r\n"); at >= 0; ) {
    const from = at + 2;
    const next = head.indexOf("\r\n", from);
    const end = next < 0 ? head.length : next;
    const colon = head.indexOf(":", from);
    if (colon > from && colon < end) addHeader(headers, head.slice(from, colon).trim().toLowerCase(), head.slice(colon + 1, end).trim());
    at = next;
  }
  return headers;
}
