/**
 * The closed model's fast path: HTTP/1.1 over plain TCP sockets, a request written from one
 * prebuilt buffer and responses read by a small incremental parser, for `http:` targets.
 *
 * Why not undici here: measured on this machine against nginx (bench/README.md, one generator
 * core), a bare undici `Client.dispatch` loop with no metrics costs about as much CPU per request as
 * autocannon (12.5 vs 12.7 µs, medians of 6 runs), so no driver built on it can be much cheaper
 * than autocannon; a socket loop with a prebuilt request and this parser costs about 7 µs. undici
 * stays for everything else (the open models, https, and requests this path does not build).
 *
 * What the parser accepts: a status line `HTTP/1.x NNN …`, headers up to 64 KiB, a body framed by
 * `content-length`, by `transfer-encoding: chunked` (extensions and trailers skipped), by the
 * connection closing, or absent (HEAD, 1xx, 204, 304). Interim 1xx responses are skipped; 101 and
 * anything malformed is a `protocol` error that closes the connection. `connection: close` (or an
 * HTTP/1.0 response without keep-alive) closes the connection after the response; the loop opens
 * a new one. Body bytes are counted as payload, as undici counts them.
 */
import { connect, type Socket } from "node:net";
import { nowMs } from "../clock.js";
import { errorKind } from "./error-kind.js";
import type { IntervalRecorder } from "../load/recorder.js";

/** The request every connection sends, prebuilt; undefined when this path cannot build it exactly. */
export function buildRequest(url: URL, method: string, headers: Record<string, string>, body: Uint8Array | undefined): Buffer | undefined {
  if (url.protocol !== "http:" || url.username || url.password) return undefined;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) return undefined;
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
  let host = false;
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\0\r\n]/.test(value)) return undefined;
    const lower = name.toLowerCase();
    // Framing and connection management belong to the client (the orchestrator refuses them too).
    if (["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "expect"].includes(lower)) return undefined;
    if (lower === "host") host = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${url.host}\r\n`;
  const length = body?.length ?? 0;
  if (length > 0 || ["POST", "PUT", "PATCH"].includes(method)) head += `content-length: ${length}\r\n`;
  head += "\r\n";
  const headBytes = Buffer.from(head, "latin1");
  return length > 0 ? Buffer.concat([headBytes, body!]) : headBytes;
}

/** When the batch of socket reads being handled began (epoch ms), while one is open. */
let batchMs = 0;
let batchOpen = false;
const closeBatch = () => {
  batchOpen = false;
};

/**
 * When the data handed to this read callback arrived: the time of the first read callback of this
 * turn of the event loop. Answers come in bursts (a target's timers fire together), and the loop
 * reads the ready sockets one after the other: the 20th answer of a burst was stamped after the
 * 19 before it were parsed, recorded and answered with new requests (~7 µs each), which added
 * tens of µs to the p50 that the target never spent (Kannon's p50 sat 0.05-0.1 ms further above a
 * 2 ms hold than wrk's). A socket is read once per turn, and a request is only sent after its
 * connection's previous answer was read, so no answer is stamped before its request was sent.
 */
function arrivalMs(): number {
  if (!batchOpen) {
    batchOpen = true;
    batchMs = nowMs();
    setImmediate(closeBatch);
  }
  return batchMs;
}

/** Connection starts of the parts starting in this turn, one list per part. */
let pending: (() => void)[][] = [];

/**
 * Starts a part's connections together with every other part of this thread that starts in the
 * same turn (drivers sharing a load thread wake for the same instant in one turn), round-robin:
 * each part's first connection, then each one's second, … Started part by part, a part waited
 * for every connection of the parts before it, and on 2 cores shared with the target the thread
 * could lose its core in between: the last drivers started 2-7 ms after the first.
 */
export function kickOff(starts: (() => void)[]): void {
  if (pending.length === 0)
    setImmediate(() => {
      const parts = pending;
      pending = [];
      const most = Math.max(...parts.map((p) => p.length));
      for (let i = 0; i < most; i++) for (const p of parts) p[i]?.();
    });
  pending.push(starts);
}

/** Parser states. */
const HEAD = 0;
const FIXED = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_CRLF = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;

const MAX_HEAD_BYTES = 64 * 1024;
const CRLF2 = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** An error that ends a connection, with the code errorKind() classifies. */
function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** What the connections report to their owner. */
export interface H1Owner {
  readonly recorder: IntervalRecorder;
  /** Asked before every request (with the clock as of now, epoch ms): false stops that slot. */
  more(now: number): boolean;
  /** A request was written (or is about to fail): counts it in flight. */
  started(): void;
  /** A request ended (recorded): frees its slot in the owner's count. */
  ended(): void;
  /** A slot stopped for good (more() said no). */
  slotStopped(): void;
  readonly closed: boolean;
}

/**
 * One connection of the closed model, carrying `slots` requests in flight at most (1, or the
 * pipelining depth). Reconnects after an error or a close for as long as its slots go on.
 */
export class H1Connection {
  private socket: Socket | undefined;
  private connected = false;
  /** Send times (epoch ms) of the requests in flight, oldest first. */
  private readonly sent: number[] = [];
  /** Slots still running (not stopped by more()). */
  private live: number;
  private state = HEAD;
  private carry: Buffer | undefined;
  private remaining = 0;
  private status = 0;
  private bytes = 0;
  private closeAfter = false;
  private interim = false;
  /** When the data being parsed arrived (epoch ms). */
  private arrived = 0;
  /** Set by start(): before it, a connection made ahead that closes is simply dropped. */
  private started = false;

  constructor(
    private readonly owner: H1Owner,
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
    private readonly head: boolean,
    readonly slots: number,
  ) {
    this.live = slots;
  }

  /**
   * Connects ahead of the start, so that the start instant costs only the writes (a connection
   * that fails now is opened again at the start).
   */
  connectAhead(): void {
    if (!this.socket) this.connectSocket();
  }

  /** Sends a first request on every slot that goes on (connecting first when needed). */
  start(): void {
    this.started = true;
    this.open();
  }

  /** The oldest request in flight (epoch ms), or undefined. */
  get oldestSent(): number | undefined {
    return this.sent[0];
  }

  /** Ends the connection now: its requests in flight fail with `err`. */
  fail(err: Error): void {
    this.socket?.destroy(err);
  }

  private open(): void {
    const now = nowMs();
    // Each slot that goes on issues its request now: written at once when connected, else on connect.
    for (let i = this.sent.length; i < this.live; i++) {
      if (this.owner.closed || !this.owner.more(now)) {
        this.stopSlot();
        i--;
        continue;
      }
      this.owner.started();
      this.sent.push(now);
      if (this.connected && this.socket) this.socket.write(this.request);
    }
    if (this.sent.length === 0) {
      // Nothing goes on: a connection made ahead is not needed.
      if (this.live === 0) this.socket?.destroy();
      return;
    }
    if (!this.socket) this.connectSocket();
  }

  private connectSocket(): void {
    this.connected = false;
    this.state = HEAD;
    this.carry = undefined;
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    socket.on("connect", () => {
      this.connected = true;
      // Latency counts from when each request was issued, connect included (as with undici).
      for (let i = 0; i < this.sent.length; i++) socket.write(this.request);
    });
    socket.on("data", (chunk: Buffer) => this.onData(socket, chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.onClose(socket));
  }

  private stopSlot(): void {
    this.live--;
    this.owner.slotStopped();
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    const wasConnected = this.connected;
    this.socket = undefined;
    this.connected = false;
    if (!this.started) return;
    // A body framed by the close ends here.
    if (this.state === UNTIL_CLOSE && this.sent.length > 0) this.complete(false);
    this.failInFlight(
      (socket as Socket & { errored?: Error | null }).errored ??
        codeError(wasConnected ? "the target closed the connection" : "connection closed before it was established", "UND_ERR_SOCKET"),
    );
    if (this.live > 0) {
      if (this.owner.closed) {
        while (this.live > 0) this.stopSlot();
      } else setImmediate(() => this.open());
    }
  }

  private onData(socket: Socket, chunk: Buffer): void {
    // Responses end when their last bytes arrive: see arrivalMs().
    this.arrived = arrivalMs();
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let off = 0;
    while (off < buf.length && socket === this.socket) {
      switch (this.state) {
        case HEAD: {
          const end = buf.indexOf(CRLF2, off);
          if (end < 0) {
            if (buf.length - off > MAX_HEAD_BYTES) return this.protocolError("response head longer than 64 KiB");
            this.carry = buf.subarray(off);
            return;
          }
          if (this.sent.length === 0) return this.protocolError("a response arrived with no request in flight");
          if (!this.parseHead(buf.toString("latin1", off, end))) return;
          off = end + 4;
          if (this.state === HEAD) {
            // A response without a body (or an interim 1xx one) ends at its head.
            if (!this.interim) this.complete(true);
          }
          break;
        }
        case FIXED: {
          const take = Math.min(this.remaining, buf.length - off);
          this.remaining -= take;
          this.bytes += take;
          off += take;
          if (this.remaining === 0) this.complete(true);
          break;
        }
        case CHUNK_SIZE: {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            if (buf.length - off > 1024) return this.protocolError("chunk size line longer than 1 KiB");
            this.carry = buf.subarray(off);
            return;
          }
          const line = buf.toString("latin1", off, end);
          const semi = line.indexOf(";");
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.protocolError(`bad chunk size "${hex.slice(0, 20)}"`);
          const size = parseInt(hex, 16);
          off = end + 2;
          if (size === 0) this.state = TRAILERS;
          else {
            this.remaining = size;
            this.state = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, buf.length - off);
          this.remaining -= take;
          this.bytes += take;
          off += take;
          if (this.remaining === 0) {
            this.remaining = 2;
            this.state = CHUNK_CRLF;
          }
          break;
        }
        case CHUNK_CRLF: {
          const take = Math.min(this.remaining, buf.length - off);
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) this.state = CHUNK_SIZE;
          break;
        }
        case TRAILERS: {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            if (buf.length - off > MAX_HEAD_BYTES) return this.protocolError("trailers longer than 64 KiB");
            this.carry = buf.subarray(off);
            return;
          }
          // An empty line ends the trailers (and the message); any other line is a trailer, skipped.
          const empty = end === off;
          off = end + 2;
          if (empty) this.complete(true);
          break;
        }
        case UNTIL_CLOSE:
          this.bytes += buf.length - off;
          off = buf.length;
          break;
      }
    }
  }

  /** Reads a response head; false (after a protocol error) when it cannot be used. */
  private parseHead(head: string): boolean {
    if (!head.startsWith("HTTP/1.") || head.charCodeAt(8) !== 32) {
      this.protocolError(`not an HTTP/1.x response: "${head.slice(0, 40)}"`);
      return false;
    }
    const status = Number(head.slice(9, 12));
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      this.protocolError(`bad status "${head.slice(9, 12)}"`);
      return false;
    }
    if (status === 101) {
      this.protocolError("101 Switching Protocols is not supported");
      return false;
    }
    this.status = status;
    this.bytes = 0;
    this.interim = status < 200;
    if (this.interim) {
      this.state = HEAD;
      return true;
    }
    const lower = head.toLowerCase();
    const http10 = head.charCodeAt(7) === 48; // "HTTP/1.0"
    const connection = headerValue(lower, "connection");
    this.closeAfter = connection === undefined ? http10 : connection.includes("close") || (http10 && !connection.includes("keep-alive"));
    if (this.head || status === 204 || status === 304) {
      this.state = HEAD;
      return true;
    }
    const te = headerValue(lower, "transfer-encoding");
    if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/.test(te)) {
        // A coding other than chunked last: the body runs until the close.
        this.state = UNTIL_CLOSE;
        this.closeAfter = true;
        return true;
      }
      this.state = CHUNK_SIZE;
      return true;
    }
    const cl = headerValue(lower, "content-length");
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) {
        this.protocolError(`bad content-length "${cl.slice(0, 20)}"`);
        return false;
      }
      this.remaining = Number(cl);
      this.state = this.remaining === 0 ? HEAD : FIXED;
      return true;
    }
    this.state = UNTIL_CLOSE;
    this.closeAfter = true;
    return true;
  }

  /** The response in flight is complete: records it, and sends the slot's next request. */
  private complete(viaData: boolean): void {
    const sent = this.sent.shift()!;
    const end = viaData ? Math.max(this.arrived, sent) : nowMs();
    this.owner.recorder.response(this.status, this.bytes, sent, sent, end);
    this.owner.ended();
    this.state = HEAD;
    this.bytes = 0;
    const socket = this.socket;
    if (!viaData || socket === undefined) return;
    if (this.closeAfter) {
      // The target closes this connection: the slots go on over a new one.
      this.socket = undefined;
      this.connected = false;
      socket.removeAllListeners("close");
      socket.on("close", () => undefined);
      socket.destroy();
      this.reopenAfterClose();
      return;
    }
    if (!this.owner.closed && this.owner.more(end)) {
      this.owner.started();
      // Its latency counts from the write itself, not from when the previous answer arrived: other
      // connections' answers that arrived together are handled in between.
      this.sent.push(nowMs());
      socket.write(this.request);
    } else {
      this.stopSlot();
      if (this.live === 0 && this.sent.length === 0) {
        this.socket = undefined;
        this.connected = false;
        socket.destroy();
      }
    }
  }

  /** After a close the target asked for: requests still in flight on it fail, the slots reconnect. */
  private reopenAfterClose(): void {
    this.failInFlight(codeError("the target closed the connection with requests in flight", "UND_ERR_SOCKET"));
    if (this.live > 0) setImmediate(() => this.open());
  }

  /** Every request still in flight on the connection that ended fails with `err`'s kind. */
  private failInFlight(err: Error): void {
    const end = nowMs();
    const kind = errorKind(err);
    for (const sent of this.sent.splice(0)) {
      this.owner.recorder.error(kind, sent, sent, end);
      this.owner.ended();
    }
  }

  private protocolError(message: string): void {
    this.socket?.destroy(codeError(`HTTP protocol error: ${message}`, "KANNON_PROTOCOL"));
  }
}

/** `name`'s value in a lower-cased head (after the status line), trimmed; the last one when repeated. */
function headerValue(lower: string, name: string): string | undefined {
  const key = `\r\n${name}:`;
  const at = lower.lastIndexOf(key);
  if (at < 0) return undefined;
  const from = at + key.length;
  const end = lower.indexOf("\r\n", from);
  return lower.slice(from, end < 0 ? undefined : end).trim();
}
