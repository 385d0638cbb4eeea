import { Client, Pool, type Dispatcher } from "undici";
import { nowMs } from "../clock.js";
import { undiciConnector, type Endpoint } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";
import { InFlight } from "./in-flight.js";
import type { Outcomes, RequestTemplate, Transport } from "./transport.js";

/**
 * Sends requests over undici, recording each outcome: the transport for requests the fast path
 * cannot prebuild (and for everything when a part asks for `undici`). https connections are made
 * by {@link undiciConnector} (the test's TLS options, each handshake timed); with a handshake per
 * request every request asks for `connection: close`.
 *
 * Two ways to send, both free of per-request promises, closures and containers:
 * - {@link runClosed} (avalanche): `concurrency` request loops, each bound to one undici `Client`
 *   (one connection; `pipelining` loops share a connection when asked) and re-dispatching its own
 *   handler object the moment the previous response ends. Going to the `Client` directly skips
 *   the `Pool`'s per-request search for a free connection: measured against nginx, about 20 %
 *   less CPU per request than dispatching through a `Pool` (bench/README.md).
 * - {@link fire} (tsunami, arrival rate): one request at a scheduled instant, on a `Pool` with as
 *   many connections as the schedule needs; handler objects come from a free list.
 */
export class UndiciTransport implements Transport {
  private pool: Pool | undefined;
  private readonly clients: Client[] = [];
  private readonly dispatchOptions: Dispatcher.DispatchOptions;
  /** Every handler object ever made (they are reused): the sweeper looks for overdue ones here. */
  private readonly exchanges: Exchange[] = [];
  private readonly free: Exchange[] = [];
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  /** undici reports no precise first send: the part's start is the instant it woke. */
  readonly firstSentMs = undefined;

  constructor(
    private readonly template: RequestTemplate,
    readonly outcomes: Outcomes,
    private readonly pipelining = 1,
    /** Where connections go; undefined: `template.url`'s origin, undici's own connector. */
    private readonly endpoint: Endpoint | undefined = undefined,
    /** Shared with the fast path when this is its fallback. */
    readonly flight = new InFlight(),
  ) {
    this.dispatchOptions = {
      origin: template.url.origin,
      path: template.url.pathname + template.url.search,
      method: template.method as Dispatcher.HttpMethod,
      headers: { ...template.headers },
      body: template.body ? Buffer.from(template.body) : null,
      reset: endpoint?.perRequest ?? false,
    };
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, template.timeoutMs / 4)));
    this.sweeper.unref();
  }

  get inFlight(): number {
    return this.flight.count;
  }

  private dispatcherOptions(pipelining: number): Pool.Options {
    return { pipelining, ...undiciTimeouts(this.template.timeoutMs, this.endpoint, this.outcomes.handshake && ((ms) => this.outcomes.handshake!(ms))) };
  }

  runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    this.prepare(concurrency);
    const connections = this.clients.length;
    return new Promise<void>((resolve) => {
      let running = concurrency;
      const stopped = () => {
        if (--running === 0) resolve();
      };
      const loops: Exchange[] = [];
      for (let i = 0; i < concurrency; i++) loops.push(new Exchange(this, this.clients[i % connections]!, more, stopped));
      this.exchanges.push(...loops);
      // The first request goes out now, the others in the next turn of the event loop: each new
      // connection costs a connect, and other drivers' parts on this thread that start at the same
      // instant send their first request before this part's other connections are opened.
      loops[0]?.next();
      if (loops.length > 1)
        setImmediate(() => {
          for (let i = 1; i < loops.length; i++) loops[i]!.next();
        });
    });
  }

  prepare(concurrency: number): void {
    if (concurrency === 0) {
      this.pool ??= new Pool(this.template.url.origin, { ...this.dispatcherOptions(1), connections: null });
      return;
    }
    const connections = Math.ceil(concurrency / this.pipelining);
    while (this.clients.length < connections) this.clients.push(new Client(this.template.url.origin, this.dispatcherOptions(this.pipelining)));
  }

  fire(scheduledMs: number): void {
    this.prepare(0);
    let e = this.free.pop();
    if (e === undefined) {
      e = new Exchange(this, this.pool!, undefined, undefined);
      this.exchanges.push(e);
    }
    e.send(scheduledMs);
  }

  /** True once {@link close} was called: loops stop, nothing more is sent. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The dispatch every request uses. */
  dispatch(dispatcher: Dispatcher, handler: Exchange): void {
    this.flight.started();
    if (this.closed) {
      handler.onError(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
      return;
    }
    try {
      dispatcher.dispatch(this.dispatchOptions, handler);
    } catch (err) {
      handler.onError(err as Error);
    }
  }

  /** Called once per request when it ends, after it was recorded. */
  ended(exchange: Exchange): void {
    if (exchange.more === undefined) this.free.push(exchange);
    this.flight.settled();
  }

  /**
   * undici's timeouts bound the wait for headers and the gap between body chunks, not the whole
   * exchange: a target that trickles its body could hold a request (and an avalanche loop)
   * forever. This aborts every exchange older than the request timeout.
   */
  private sweep(): void {
    const oldest = nowMs() - this.template.timeoutMs;
    for (const e of this.exchanges) if (e.active && e.sent < oldest) e.abortForTimeout();
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
    const all: Dispatcher[] = [...this.clients, ...(this.pool ? [this.pool] : [])];
    await Promise.all(all.map((d) => (force ? d.destroy() : d.close())));
  }
}

/**
 * undici's per-connection timers for a request timeout of `timeoutMs`. One value for all three:
 * between requests undici switches a connection's timer from headers/body to keep-alive and back,
 * and with different values it cancels and makes a timer on every switch (twice per request)
 * instead of refreshing one. With a TLS `endpoint`, its connections are made by
 * {@link undiciConnector} (connect timeout the same), each handshake told to `handshake`.
 */
export function undiciTimeouts(timeoutMs: number, endpoint?: Endpoint, handshake?: (ms: number) => void): Pool.Options {
  const connect = endpoint?.tls ? undiciConnector(endpoint, timeoutMs, handshake) : { timeout: timeoutMs };
  return { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: timeoutMs, connect };
}

/**
 * One request at a time and its response, as undici's dispatch handler: counts, times, can be
 * aborted, and is reused. A closed-model loop (`more` set) sends its next request from its own
 * completion; an open-model exchange goes back to the transport's free list.
 */
class Exchange implements Dispatcher.DispatchHandler {
  sent = 0;
  scheduled = 0;
  status = 0;
  bytes = 0;
  active = false;
  private abort: ((err: Error) => void) | undefined = undefined;

  constructor(
    private readonly transport: UndiciTransport,
    private readonly dispatcher: Dispatcher,
    readonly more: ((now: number) => boolean) | undefined,
    private readonly stopped: (() => void) | undefined,
  ) {}

  /** Closed model: sends the next request (as of `now`, epoch ms), or stops the loop. */
  next(now = nowMs()): void {
    if (!this.transport.isClosed && this.more!(now)) this.send(now, now);
    else this.stopped!();
  }

  /** Sends the request scheduled at `scheduledMs`; `now` is the clock read just before, if there was one. */
  send(scheduledMs: number, now = nowMs()): void {
    this.sent = now;
    this.scheduled = scheduledMs;
    this.status = 0;
    this.bytes = 0;
    this.abort = undefined;
    this.active = true;
    this.transport.dispatch(this.dispatcher, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    return true;
  }

  onComplete(): void {
    if (!this.active) return;
    this.active = false;
    const end = nowMs();
    this.transport.outcomes.response(this.status, this.bytes, this.scheduled, this.sent, end);
    this.transport.ended(this);
    // The next request of the loop is sent at this same instant: one clock read for both.
    if (this.more !== undefined) this.next(end);
  }

  onError(err: Error): void {
    if (!this.active) return;
    this.active = false;
    this.transport.outcomes.error(errorKind(err), this.scheduled, this.sent, nowMs());
    this.transport.ended(this);
    // Never from inside undici's error handling: it fails every queued request of the connection
    // in a loop and asserts the queue is empty afterwards; the next request goes out in the next turn.
    if (this.more !== undefined) setImmediate(() => this.next());
  }

  /** Ends the exchange as a timeout (the whole request took longer than the request timeout). */
  abortForTimeout(): void {
    const err = codeError("request timed out", "KANNON_REQUEST_TIMEOUT");
    if (this.abort) this.abort(err);
    else this.onError(err);
  }
}
