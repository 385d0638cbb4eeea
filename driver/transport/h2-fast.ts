import { grpcCode } from "../../rpc/codes.js";
import { header } from "../../rpc/wire.js";
import { nowMs } from "../clock.js";
import type { ConnectionOptions } from "./connection-options.js";
import { codeError } from "./error-kind.js";
import type { Exchange, ExchangeKeep, ExchangeRequest } from "./exchange.js";
import { H2Connection, type H2Owner, type H2Slot } from "./h2-connection.js";
import type { DialTarget } from "./h2-dial.js";
import type { RequestFrames } from "./h2-frames.js";
import { LATENCY_ESTIMATE_MS, type OpenModelPlan } from "./h1-open-pool.js";
import { InFlight } from "./in-flight.js";
import type { Outcomes, RequestTemplate, Transport } from "./transport.js";

/** An open model part that said nothing of its rate: sized for 1,000 req/s and the default cap. */
const DEFAULT_PLAN: OpenModelPlan = { ratePerS: 1000, maxInFlight: 1000 };

/**
 * The HTTP/2 fast transport (h2load's model): the closed model's loops spread over `connections`
 * connections of up to `streams` streams each (h2-connection.ts: one prebuilt request, frames
 * parsed only as far as a count needs), each loop sending its next request the moment its
 * response ends; the open model's due requests go to the connection with a free stream (round
 * robin), or wait for one while the pool grows up to its cap. Each response is recorded with its
 * protocol `h2`. Used for h2c and HTTP/2 over TLS (ALPN) targets whose request fits one HEADERS
 * and one DATA frame.
 *
 * A TLS server that picks HTTP/1.1 by ALPN: from then on every request (those waiting for that
 * connection too, and each loop's next one) goes over the `fallback` exchange, built at the first
 * such answer (as H2Exchange falls back), and is recorded with protocol `http/1.1`; requests
 * already in flight on an HTTP/2 connection end there. Without `fallback`, each request waiting
 * for the connection fails as `h2_protocol`.
 */
export class H2FastTransport implements Transport, H2Owner {
  private readonly flight = new InFlight();
  private readonly loops: H2Connection[] = [];
  private readonly pool: H2Connection[] = [];
  private cursor = 0;
  /** Open-model requests waiting for a free stream, oldest first. */
  private waiting: Shot[] = [];
  private readonly spare: Shot[] = [];
  private cap = Number.POSITIVE_INFINITY;
  private readonly sweeper: NodeJS.Timeout;
  /** The HTTP/1.1 exchange, once a server chose HTTP/1.1. */
  private h1: Exchange | undefined;
  /** True while a connection that fell back hands its waiting requests over (their failed() sends them over HTTP/1.1). */
  handing = false;
  private readonly request: ExchangeRequest;
  private readonly keep: ExchangeKeep;
  closed = false;
  firstSentMs: number | undefined;
  readonly timeoutMs: number;
  readonly handshake: ((ms: number) => void) | undefined;

  constructor(
    template: RequestTemplate,
    readonly frames: RequestFrames,
    readonly target: DialTarget,
    readonly outcomes: Outcomes,
    private readonly http: ConnectionOptions,
    /** The request is a unary gRPC call: each answer is recorded by its code (outcomes.rpc), from grpc-status. */
    private readonly grpc = false,
    /** Builds the HTTP/1.1 exchange for a TLS server that picks HTTP/1.1 by ALPN. */
    private readonly fallback?: () => Exchange,
  ) {
    this.timeoutMs = template.timeoutMs;
    this.request = { method: template.method, url: template.url, headers: template.headers, body: template.body };
    // A gRPC call's code over HTTP/1.1 is its grpc-status header (no trailers there), as the exchange's.
    this.keep = { body: false, headers: grpc };
    this.handshake = outcomes.handshake ? (ms) => outcomes.handshake!(ms) : undefined;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, template.timeoutMs / 4)));
    this.sweeper.unref();
  }

  get inFlight(): number {
    return this.flight.count;
  }

  /** True once a server chose HTTP/1.1: every new request goes over the fallback exchange. */
  get overH1(): boolean {
    return this.h1 !== undefined;
  }

  prepare(concurrency: number, open?: OpenModelPlan): void {
    const streams = this.http.streams;
    if (this.h1 !== undefined) return;
    if (concurrency === 0) {
      const plan = open ?? DEFAULT_PLAN;
      this.cap = this.http.connections > 0 ? this.http.connections : Math.max(1, Math.ceil(plan.maxInFlight / streams));
      const ahead = this.http.connections > 0 ? this.http.connections : Math.ceil((plan.ratePerS * LATENCY_ESTIMATE_MS) / 1000 / streams);
      while (this.pool.length < Math.min(this.cap, Math.max(1, ahead))) this.grow();
      return;
    }
    if (this.loops.length > 0) return;
    const count = this.http.connections > 0 ? Math.min(this.http.connections, concurrency) : Math.ceil(concurrency / streams);
    for (let i = 0; i < count; i++) {
      const c = new H2Connection(this, streams);
      this.loops.push(c);
      c.connectAhead();
    }
  }

  runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    this.prepare(concurrency);
    return new Promise<void>((resolve) => {
      let running = concurrency;
      const stopped = () => {
        if (--running === 0) resolve();
      };
      const now = nowMs();
      this.firstSentMs ??= now;
      // Loop i on connection i mod count: the loops split as evenly as the connections allow.
      for (let i = 0; i < concurrency; i++) new Loop(this, this.loops[i % this.loops.length]!, more, stopped).next(now);
    });
  }

  fire(scheduledMs: number): void {
    this.flight.started();
    const shot = this.spare.pop() ?? new Shot(this);
    shot.scheduled = scheduledMs;
    shot.sent = 0;
    if (this.closed) return shot.failed("aborted", nowMs());
    if (this.h1 !== undefined) return this.viaH1(shot);
    const c = this.pick();
    if (c !== undefined) return shot.go(c);
    this.waiting.push(shot);
    // Grow while requests wait beyond what the connections being dialed will take.
    if (this.pool.length < this.cap && this.waiting.length > this.pool.filter((p) => p.active === 0).length * this.http.streams) this.grow();
  }

  private grow(): H2Connection {
    const c = new H2Connection(this, this.http.streams);
    this.pool.push(c);
    c.connectAhead();
    return c;
  }

  /** The next connection of the pool with a free stream, round robin. */
  private pick(): H2Connection | undefined {
    const n = this.pool.length;
    for (let i = 0; i < n; i++) {
      const c = this.pool[(this.cursor + i) % n]!;
      if (c.free > 0) {
        this.cursor = (this.cursor + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  freed(c: H2Connection): void {
    while (this.waiting.length > 0 && c.free > 0) this.waiting.shift()!.go(c);
  }

  fellBack(c: H2Connection): void {
    const chose = codeError("the target chose HTTP/1.1", "KANNON_H2_PROTOCOL");
    if (this.fallback === undefined || this.closed) return c.fail(chose);
    this.h1 ??= this.fallback();
    // Requests waiting for a stream on any connection, then those waiting on `c` (it has no stream:
    // each request failed here was never sent), go over HTTP/1.1; so does every later one.
    for (const shot of this.waiting.splice(0)) this.viaH1(shot);
    this.handing = true;
    try {
      c.fail(chose);
    } finally {
      this.handing = false;
    }
  }

  /** Sends `slot`'s request over HTTP/1.1 (the server chose it); its answer or failure is the slot's. */
  viaH1(slot: Loop | Shot): void {
    slot.sent ||= nowMs();
    void this.h1!.send(this.request, this.keep).then((r) => {
      if (!r.ok) return slot.failed(r.kind, r.endMs);
      slot.status = r.status;
      slot.bytes = r.bytes;
      slot.grpcStatus = header(r.headers, "grpc-status");
      slot.done(r.endMs, "http/1.1");
    });
  }

  /** Records an answered request: its status, or a gRPC call's code, and the protocol that carried it. */
  answered(slot: H2Slot, scheduledMs: number, sentMs: number, now: number, protocol: "h2" | "http/1.1"): void {
    if (this.grpc && this.outcomes.rpc) this.outcomes.rpc(grpcCode(slot.status, slot.grpcStatus), slot.bytes, scheduledMs, sentMs, now, 0, Number.NaN);
    else this.outcomes.response(slot.status, slot.bytes, scheduledMs, sentMs, now);
    if (protocol === "h2") this.outcomes.protocol?.("h2");
  }

  /** A closed-model request starts: one more in flight. */
  inFlightStarted(): void {
    this.flight.started();
  }

  /** A request ended (recorded): one fewer in flight. */
  settled(shot?: Shot): void {
    if (shot) this.spare.push(shot);
    this.flight.settled();
  }

  private sweep(): void {
    const oldest = nowMs() - this.timeoutMs;
    for (const c of this.loops) c.expire(oldest);
    for (const c of this.pool) c.expire(oldest);
    while (this.waiting.length > 0 && this.waiting[0]!.scheduled < oldest) this.waiting.shift()!.failed("timeout", nowMs());
  }

  waitForSlot(max: number, deadlineMs?: number, signal?: AbortSignal): Promise<boolean> {
    return this.flight.waitForSlot(max, deadlineMs, signal);
  }

  drain(deadlineMs: number): Promise<boolean> {
    return this.flight.drain(deadlineMs);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const stopped = codeError("the driver stopped sending", "UND_ERR_DESTROYED");
    for (const shot of this.waiting.splice(0)) shot.failed("aborted", nowMs());
    for (const c of [...this.loops, ...this.pool]) c.fail(stopped);
    await this.h1?.close(force);
  }
}

/** A closed-model loop: one request at a time, the next sent as the previous one is recorded. */
class Loop implements H2Slot {
  status = 0;
  bytes = 0;
  grpcStatus: string | undefined;
  retries = 0;
  sent = 0;

  constructor(
    private readonly t: H2FastTransport,
    private readonly c: H2Connection,
    private readonly more: (now: number) => boolean,
    private readonly stopped: () => void,
  ) {}

  next(now: number): void {
    if (this.t.closed || !this.more(now)) return this.stopped();
    this.sent = now;
    this.t.inFlightStarted();
    if (this.t.overH1) this.t.viaH1(this);
    else this.c.send(this);
  }

  done(now: number, protocol: "h2" | "http/1.1" = "h2"): void {
    this.t.answered(this, this.sent, this.sent, now, protocol);
    this.t.settled();
    this.next(now);
  }

  failed(kind: string, now: number): void {
    if (this.t.handing) return this.t.viaH1(this);
    this.t.outcomes.error(kind, this.sent, this.sent, now);
    this.t.settled();
    // Not from inside the connection's failure handling: the next request goes out in the next turn.
    setImmediate(() => this.next(nowMs()));
  }
}

/** An open-model request (reused). */
class Shot implements H2Slot {
  status = 0;
  bytes = 0;
  grpcStatus: string | undefined;
  retries = 0;
  scheduled = 0;
  sent = 0;

  constructor(private readonly t: H2FastTransport) {}

  go(c: H2Connection): void {
    this.sent = nowMs();
    c.send(this);
  }

  done(now: number, protocol: "h2" | "http/1.1" = "h2"): void {
    this.t.answered(this, this.scheduled, this.sent, now, protocol);
    this.t.settled(this);
  }

  failed(kind: string, now: number): void {
    if (this.t.handing) return this.t.viaH1(this);
    // One that never went out has no service time of its own.
    this.t.outcomes.error(kind, this.scheduled, this.sent || now, now);
    this.t.settled(this);
  }
}
