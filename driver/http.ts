import { Pool, type Dispatcher } from "undici";
import type { IntervalRecorder } from "./recorder.js";
import { nowMs } from "./clock.js";

/** The request every driver sends, resolved once per test. */
export interface RequestTemplate {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  timeoutMs: number;
}

/** Classifies a failed request into a stable error kind for reports. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connect_refused";
    case "UND_ERR_CONNECT_TIMEOUT":
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "KANNON_REQUEST_TIMEOUT":
    case "ETIMEDOUT":
      return "timeout";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return "reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "dns";
    case "UND_ERR_ABORTED":
    case "UND_ERR_DESTROYED":
    case "UND_ERR_CLOSED":
      return "aborted";
    default:
      return "other";
  }
}

/**
 * Sends requests from one driver to the target over an undici pool, recording each outcome.
 * The request loop only measures; it never logs or allocates per-request containers.
 */
export class HttpFirer {
  private readonly pool: Pool;
  private readonly dispatchOptions: Dispatcher.DispatchOptions;
  inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private slotWaiters: (() => void)[] = [];
  private readonly exchanges = new Set<Exchange>();
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    template: RequestTemplate,
    private readonly recorder: IntervalRecorder,
    connections: number | null,
  ) {
    this.pool = new Pool(template.url.origin, {
      connections,
      pipelining: 1,
      headersTimeout: template.timeoutMs,
      bodyTimeout: template.timeoutMs,
      connect: { timeout: template.timeoutMs },
      keepAliveTimeout: 30_000,
    });
    this.dispatchOptions = {
      origin: template.url.origin,
      path: template.url.pathname + template.url.search,
      method: template.method as Dispatcher.HttpMethod,
      headers: { ...template.headers },
      body: template.body ? Buffer.from(template.body) : null,
    };
    this.timeoutMs = template.timeoutMs;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, template.timeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * Sends one request; `scheduledMs` is its scheduled start (epoch ms), or its send time. Resolves
   * when the response has been read and recorded (or the error recorded); never rejects.
   * Uses undici's dispatch handler directly: no response object, no body stream per request.
   */
  fire(scheduledMs?: number): Promise<void> {
    this.inFlight++;
    const exchange = new Exchange(this, scheduledMs);
    this.exchanges.add(exchange);
    try {
      this.pool.dispatch(this.dispatchOptions, exchange);
    } catch (err) {
      exchange.onError(err as Error);
    }
    return exchange.done;
  }

  /** Called once per exchange when it ends: records it and frees its slot. */
  finish(exchange: Exchange, error: Error | undefined): void {
    this.exchanges.delete(exchange);
    if (error === undefined) this.recorder.response(exchange.status, exchange.bytes, exchange.scheduled, exchange.sent, nowMs());
    else this.recorder.error(errorKind(error), exchange.scheduled, exchange.sent, nowMs());
    this.settled();
  }

  /**
   * undici's timeouts bound the wait for headers and the gap between body chunks, not the whole
   * exchange: a target that trickles its body could hold a request (and an avalanche loop)
   * forever. This aborts every exchange older than the request timeout.
   */
  private sweep(): void {
    const oldest = nowMs() - this.timeoutMs;
    for (const e of this.exchanges) if (e.sent < oldest) e.abortForTimeout();
  }

  private settled(): void {
    this.inFlight--;
    const slot = this.slotWaiters.shift();
    if (slot) slot();
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
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

  /** Closes the pool; with `force`, aborts whatever is still in flight. */
  async close(force: boolean): Promise<void> {
    clearInterval(this.sweeper);
    if (force) await this.pool.destroy();
    else await this.pool.close();
  }
}

/** One request and its response, as undici's dispatch handler: counts, times, and can be aborted. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly sent = nowMs();
  readonly scheduled: number;
  status = 0;
  bytes = 0;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private abort: ((err: Error) => void) | undefined;
  private ended = false;

  constructor(
    private readonly firer: HttpFirer,
    scheduledMs: number | undefined,
  ) {
    this.scheduled = scheduledMs ?? this.sent;
    this.done = new Promise<void>((resolve) => (this.resolve = resolve));
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
    this.end(undefined);
  }

  onError(err: Error): void {
    this.end(err);
  }

  /** Ends the exchange as a timeout (the whole request took longer than the request timeout). */
  abortForTimeout(): void {
    const err = Object.assign(new Error("request timed out"), { code: "KANNON_REQUEST_TIMEOUT" });
    if (this.abort) this.abort(err);
    else this.end(err);
  }

  private end(err: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.firer.finish(this, err);
    this.resolve();
  }
}
