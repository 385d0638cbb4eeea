/**
 * The closed model's fast path: HTTP/1.1 over TCP or TLS sockets (dial.ts), a request written
 * from one prebuilt buffer (h1-request.ts) and responses read by a pure incremental parser
 * (h1-parser.ts), for `http:` and `https:` targets.
 *
 * Why not undici here: measured on this machine against nginx (bench/README.md, one generator
 * core), a bare undici `Client.dispatch` loop with no metrics costs about as much CPU per request as
 * autocannon (12.5 vs 12.7 µs, medians of 6 runs), so no driver built on it can be much cheaper
 * than autocannon; a socket loop with a prebuilt request and this parser costs about 7 µs. undici
 * stays for requests this path does not build, and for parts that ask for it.
 *
 * A response the parser marks as the connection's last (`connection: close`, HTTP/1.0 without
 * keep-alive, a body framed by the close) closes the connection after it; the loop opens a new one.
 * A protocol error closes the connection and fails its requests in flight as `protocol`. With
 * `perRequest` (a TLS handshake per request) the client closes it after every response.
 */
import type { Socket } from "node:net";
import { nowMs } from "../clock.js";
import { dial, type Endpoint } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";
import { H1ParseError, H1ResponseParser } from "./h1-parser.js";
import type { Outcomes } from "./transport.js";

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

/** What the connections report to their owner. */
export interface H1Owner {
  readonly outcomes: Outcomes;
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
 * One connection, carrying `slots` requests in flight at most (1, or the pipelining depth).
 * Closed model: its slots loop by themselves (asking the owner's more()), reconnecting after an
 * error or a close for as long as they go on. Open model (`freed` given): it sends only when told
 * ({@link send}, with the request's scheduled time), calls `freed` whenever a request of it ends,
 * and connects again on the next send after a close.
 */
export class H1Connection {
  private socket: Socket | undefined;
  /** The socket whose bytes are being parsed (responses stop counting once it is replaced). */
  private reading: Socket | undefined;
  private connected = false;
  /** Send times (epoch ms) of the requests in flight, oldest first. */
  private readonly sent: number[] = [];
  /** Their scheduled times (the send times in the closed model). */
  private readonly scheduled: number[] = [];
  /** Open model: the owner keeps this set while the connection waits in its idle queue. */
  queued = false;
  /** Slots still running (not stopped by more()). */
  private live: number;
  private readonly parser: H1ResponseParser;
  /** When the data being parsed arrived (epoch ms). */
  private arrived = 0;
  /** Set by start(): before it, a connection made ahead that closes is simply dropped. */
  private started = false;

  constructor(
    private readonly owner: H1Owner,
    private readonly endpoint: Endpoint,
    private readonly request: Buffer,
    head: boolean,
    readonly slots: number,
    /** Open model: told after each of this connection's requests ended (it has a free slot). */
    private readonly freed?: (c: H1Connection) => void,
  ) {
    this.live = slots;
    this.started = freed !== undefined;
    this.parser = new H1ResponseParser({ response: (status, bytes, closeAfter) => this.onResponse(status, bytes, closeAfter) }, head);
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

  /** Open model: slots free for {@link send}. */
  get free(): number {
    return this.slots - this.sent.length;
  }

  /**
   * Open model: sends one request now (connecting first when needed); its latency counts from
   * `scheduledMs`. `counted`: the owner already counts it in flight (it waited for a connection).
   */
  send(scheduledMs: number, counted = false): void {
    if (!counted) this.owner.started();
    this.sent.push(nowMs());
    this.scheduled.push(scheduledMs);
    if (this.connected && this.socket) this.socket.write(this.request);
    else if (!this.socket) this.connectSocket();
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
      this.scheduled.push(now);
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
    this.parser.reset();
    const socket = dial(
      this.endpoint,
      () => {
        this.connected = true;
        // Latency counts from when each request was issued, connect (and handshake) included (as with undici).
        for (let i = 0; i < this.sent.length; i++) socket.write(this.request);
        // Open model: a slot free on a new connection takes a request waiting for one.
        if (this.freed && this.sent.length < this.slots) this.freed(this);
      },
      this.owner.outcomes.handshake && ((ms) => this.owner.outcomes.handshake!(ms)),
      // The parser copies what it keeps of a read (the buffer is reused).
      (chunk) => this.onData(socket, chunk),
    );
    this.socket = socket;
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
    this.arrived = nowMs();
    this.reading = socket;
    if (this.sent.length > 0) this.parser.end();
    else this.parser.reset();
    this.failInFlight(
      (socket as Socket & { errored?: Error | null }).errored ??
        codeError(wasConnected ? "the target closed the connection" : "connection closed before it was established", "UND_ERR_SOCKET"),
    );
    if (this.freed) {
      // Open model: the next request sent on it connects again (a request waiting for a connection gets it now).
      this.freed(this);
      return;
    }
    if (this.live > 0) {
      if (this.owner.closed) {
        while (this.live > 0) this.stopSlot();
      } else setImmediate(() => this.open());
    }
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    // Responses end when their last bytes arrive: see arrivalMs().
    this.arrived = arrivalMs();
    this.reading = socket;
    try {
      this.parser.feed(chunk);
    } catch (err) {
      if (!(err instanceof H1ParseError)) throw err;
      if (socket === this.socket) socket.destroy(err);
    }
  }

  /** The parser read a whole response on the socket being read; false stops reading it. */
  private onResponse(status: number, bytes: number, closeAfter: boolean): boolean {
    const socket = this.reading;
    if (this.sent.length === 0) throw new H1ParseError("a response arrived with no request in flight");
    const sent = this.sent.shift()!;
    const scheduled = this.scheduled.shift()!;
    const viaData = socket === this.socket;
    const end = viaData ? Math.max(this.arrived, sent) : this.arrived;
    this.owner.outcomes.response(status, bytes, scheduled, sent, end);
    this.owner.ended();
    if (!viaData || socket === undefined) {
      this.freed?.(this);
      return false;
    }
    if (closeAfter || this.endpoint.perRequest) {
      // The target closes this connection (or a handshake per request): the slots go on over a new one.
      this.socket = undefined;
      this.connected = false;
      socket.removeAllListeners("close");
      socket.on("close", () => undefined);
      socket.destroy();
      this.failInFlight(codeError("the target closed the connection with requests in flight", "UND_ERR_SOCKET"));
      if (this.freed) this.freed(this);
      else if (this.live > 0) setImmediate(() => this.open());
      return false;
    }
    if (this.freed) {
      this.freed(this);
      return true;
    }
    if (!this.owner.closed && this.owner.more(end)) {
      this.owner.started();
      // Its latency counts from the write itself, not from when the previous answer arrived: other
      // connections' answers that arrived together are handled in between.
      const now = nowMs();
      this.sent.push(now);
      this.scheduled.push(now);
      socket.write(this.request);
      return true;
    }
    this.stopSlot();
    if (this.live === 0 && this.sent.length === 0) {
      this.socket = undefined;
      this.connected = false;
      socket.destroy();
      return false;
    }
    return true;
  }

  /** Every request still in flight on the connection that ended fails with `err`'s kind. */
  private failInFlight(err: Error): void {
    const end = nowMs();
    const kind = errorKind(err);
    const scheduled = this.scheduled.splice(0);
    const sent = this.sent.splice(0);
    for (let i = 0; i < sent.length; i++) {
      this.owner.outcomes.error(kind, scheduled[i]!, sent[i]!, end);
      this.owner.ended();
    }
    if (sent.length > 0) this.freed?.(this);
  }
}
