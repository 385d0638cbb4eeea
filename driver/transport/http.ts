import { Client, Pool, type Dispatcher } from "undici";
import type { IntervalRecorder } from "../load/recorder.js";
import { nowMs } from "../clock.js";
import { errorKind } from "./error-kind.js";
import { buildRequest, H1Connection, kickOff, type H1Owner } from "./h1.js";

export { errorKind };

/** The request every driver sends, resolved once per test. */
export interface RequestTemplate {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  timeoutMs: number;
}

/** Most requests in flight on one connection (HTTP/1.1 pipelining). */
export const MAX_PIPELINING = 256;

/**
 * Sends one driver thread's requests to the target over undici, recording each outcome.
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
export class HttpFirer {
  private pool: Pool | undefined;
  private readonly clients: Client[] = [];
  private readonly dispatchOptions: Dispatcher.DispatchOptions;
  inFlight = 0;
  /** When the closed model's fast path issued its first request (epoch ms): the part's real start. */
  firstSentMs: number | undefined;
  private idleWaiters: (() => void)[] = [];
  private slotWaiters: (() => void)[] = [];
  /** Every handler object ever made (they are reused): the sweeper looks for overdue ones here. */
  private readonly exchanges: Exchange[] = [];
  private readonly free: Exchange[] = [];
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  /** The closed model's fast path (plain http): the prebuilt request, and its connections. */
  private readonly h1Request: Buffer | undefined;
  private readonly h1: H1Connection[] = [];
  private h1Owner: (H1Owner & { more: (now: number) => boolean; slotStopped: () => void }) | undefined;

  constructor(
    private readonly template: RequestTemplate,
    readonly recorder: IntervalRecorder,
    private readonly pipelining = 1,
  ) {
    this.dispatchOptions = {
      origin: template.url.origin,
      path: template.url.pathname + template.url.search,
      method: template.method as Dispatcher.HttpMethod,
      headers: { ...template.headers },
      body: template.body ? Buffer.from(template.body) : null,
    };
    this.timeoutMs = template.timeoutMs;
    this.h1Request = process.env.KANNON_HTTP_CLIENT === "undici" ? undefined : buildRequest(template.url, template.method, template.headers, template.body);
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, template.timeoutMs / 4)));
    this.sweeper.unref();
  }

  private dispatcherOptions(pipelining: number): Pool.Options {
    const t = this.template.timeoutMs;
    // One value for undici's three per-connection timers: between requests it switches a
    // connection's timer from headers/body to keep-alive and back, and with different values it
    // cancels and makes a timer on every switch (twice per request) instead of refreshing one.
    return { pipelining, headersTimeout: t, bodyTimeout: t, keepAliveTimeout: t, connect: { timeout: t } };
  }

  /**
   * Closed model: keeps `concurrency` requests in flight until `more(now)` says stop (asked before
   * every request, after the previous one is recorded; `now` is epoch ms) or the firer is closed. Resolves when every
   * loop has stopped and its last request has ended.
   */
  runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    if (this.h1Request) return this.runClosedH1(concurrency, more);
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
      if (loops.length > 1) setImmediate(() => {
        for (let i = 1; i < loops.length; i++) loops[i]!.next();
      });
    });
  }

  /** {@link runClosed} over the fast path's sockets (h1.ts). */
  private runClosedH1(concurrency: number, more: (now: number) => boolean): Promise<void> {
    this.prepareH1(concurrency);
    const owner = this.h1Owner!;
    return new Promise<void>((resolve) => {
      let running = this.h1.reduce((n, c) => n + c.slots, 0);
      owner.more = more;
      owner.slotStopped = () => {
        if (--running === 0) resolve();
      };
      kickOff(this.h1.map((c) => () => c.start()));
    });
  }

  /** The fast path's connections for `concurrency` loops, made (and connected) ahead of the start. */
  private prepareH1(concurrency: number): void {
    if (this.h1.length > 0) return;
    const firer = this;
    this.h1Owner = {
      recorder: this.recorder,
      more: () => false,
      started: () => {
        this.inFlight++;
        this.firstSentMs ??= nowMs();
      },
      ended: () => this.settled(),
      slotStopped: () => undefined,
      get closed() {
        return firer.closed;
      },
    };
    const url = this.template.url;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || 80;
    const connections = Math.ceil(concurrency / this.pipelining);
    for (let i = 0; i < connections; i++) {
      // The slots split as evenly as the pipelining depth allows: concurrency in all.
      const slots = Math.floor(concurrency / connections) + (i < concurrency % connections ? 1 : 0);
      this.h1.push(new H1Connection(this.h1Owner, host, port, this.h1Request!, this.template.method === "HEAD", slots));
    }
    for (const c of this.h1) c.connectAhead();
  }

  /**
   * Makes the connections' dispatchers ahead of the start (for `concurrency` closed loops, or the
   * open model's pool when 0), so that the start instant costs only the first dispatches.
   */
  prepare(concurrency: number): void {
    if (concurrency > 0 && this.h1Request) return this.prepareH1(concurrency);
    if (concurrency === 0) {
      this.pool ??= new Pool(this.template.url.origin, { ...this.dispatcherOptions(1), connections: null });
      return;
    }
    const connections = Math.ceil(concurrency / this.pipelining);
    while (this.clients.length < connections) this.clients.push(new Client(this.template.url.origin, this.dispatcherOptions(this.pipelining)));
  }

  /**
   * Open model: sends one request now; `scheduledMs` is its scheduled start (epoch ms), from which
   * its latency counts. Never throws: a failure is recorded as an error of its kind.
   */
  fire(scheduledMs: number): void {
    this.pool ??= new Pool(this.template.url.origin, { ...this.dispatcherOptions(1), connections: null });
    let e = this.free.pop();
    if (e === undefined) {
      e = new Exchange(this, this.pool, undefined, undefined);
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
    this.inFlight++;
    if (this.closed) {
      handler.onError(Object.assign(new Error("the driver stopped sending"), { code: "UND_ERR_DESTROYED" }));
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
    this.settled();
  }

  /** One request fewer in flight: wakes a waiter for a slot, and the drain when none is left. */
  private settled(): void {
    this.inFlight--;
    const slot = this.slotWaiters.shift();
    if (slot) slot();
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * undici's timeouts bound the wait for headers and the gap between body chunks, not the whole
   * exchange: a target that trickles its body could hold a request (and an avalanche loop)
   * forever. This aborts every exchange older than the request timeout.
   */
  private sweep(): void {
    const oldest = nowMs() - this.timeoutMs;
    for (const e of this.exchanges) if (e.active && e.sent < oldest) e.abortForTimeout();
    for (const c of this.h1) {
      const sent = c.oldestSent;
      if (sent !== undefined && sent < oldest) c.fail(Object.assign(new Error("request timed out"), { code: "KANNON_REQUEST_TIMEOUT" }));
    }
  }

  /**
   * Resolves true once fewer than `max` requests are in flight; false at `deadlineMs` (epoch) or
   * as soon as `signal` aborts, whichever comes first (a cancel frees the waiter at once).
   */
  async waitForSlot(max: number, deadlineMs = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<boolean> {
    while (this.inFlight >= max) {
      if (signal?.aborted || nowMs() >= deadlineMs) return false;
      const freed = await new Promise<boolean>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const waiter = () => finish(true);
        const onAbort = () => finish(false);
        const finish = (ok: boolean) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          const i = this.slotWaiters.indexOf(waiter);
          if (i >= 0) this.slotWaiters.splice(i, 1);
          resolve(ok);
        };
        this.slotWaiters.push(waiter);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (Number.isFinite(deadlineMs)) timer = setTimeout(() => finish(false), Math.min(Math.max(0, deadlineMs - nowMs()), 2 ** 31 - 1));
      });
      if (!freed) return false;
    }
    return true;
  }

  /** Resolves when no request is in flight, or after `deadlineMs` (epoch). */
  async drain(deadlineMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - nowMs()));
    });
    const drained = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return drained;
  }

  /** Stops every loop and closes the connections; with `force`, aborts whatever is still in flight. */
  async close(force: boolean): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.h1) c.fail(Object.assign(new Error("the driver stopped sending"), { code: "UND_ERR_DESTROYED" }));
    const all: Dispatcher[] = [...this.clients, ...(this.pool ? [this.pool] : [])];
    await Promise.all(all.map((d) => (force ? d.destroy() : d.close())));
  }
}

/**
 * One request at a time and its response, as undici's dispatch handler: counts, times, can be
 * aborted, and is reused. A closed-model loop (`more` set) sends its next request from its own
 * completion; an open-model exchange goes back to the firer's free list.
 */
class Exchange implements Dispatcher.DispatchHandler {
  sent = 0;
  scheduled = 0;
  status = 0;
  bytes = 0;
  active = false;
  private abort: ((err: Error) => void) | undefined = undefined;

  constructor(
    private readonly firer: HttpFirer,
    private readonly dispatcher: Dispatcher,
    readonly more: ((now: number) => boolean) | undefined,
    private readonly stopped: (() => void) | undefined,
  ) {}

  /** Closed model: sends the next request (as of `now`, epoch ms), or stops the loop. */
  next(now = nowMs()): void {
    if (!this.firer.isClosed && this.more!(now)) this.send(now, now);
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
    this.firer.dispatch(this.dispatcher, this);
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
    this.firer.recorder.response(this.status, this.bytes, this.scheduled, this.sent, end);
    this.firer.ended(this);
    // The next request of the loop is sent at this same instant: one clock read for both.
    if (this.more !== undefined) this.next(end);
  }

  onError(err: Error): void {
    if (!this.active) return;
    this.active = false;
    this.firer.recorder.error(errorKind(err), this.scheduled, this.sent, nowMs());
    this.firer.ended(this);
    // Never from inside undici's error handling: it fails every queued request of the connection
    // in a loop and asserts the queue is empty afterwards; the next request goes out in the next turn.
    if (this.more !== undefined) setImmediate(() => this.next());
  }

  /** Ends the exchange as a timeout (the whole request took longer than the request timeout). */
  abortForTimeout(): void {
    const err = Object.assign(new Error("request timed out"), { code: "KANNON_REQUEST_TIMEOUT" });
    if (this.abort) this.abort(err);
    else this.onError(err);
  }
}
