import { nowMs } from "../clock.js";
import { endpointOf, type Endpoint, type TlsLink } from "./dial.js";
import { codeError } from "./error-kind.js";
import type { Exchange, ExchangeKeep, ExchangeRequest, ExchangeResult } from "./exchange.js";
import { H1ExchangeConnection, H1Job, type H1JobPool } from "./h1-exchange-connection.js";
import { buildRequest } from "./h1-request.js";
import type { UndiciExchange } from "./undici-exchange.js";

/**
 * The `fast` {@link Exchange}: for `http:` and `https:` origins, a keep-alive pool of TCP or TLS sockets per origin
 * (h1-exchange-connection.ts), at most `connections` of them; a request takes an idle connection,
 * opens a new one while under the limit, or waits in a FIFO queue for the next one freed (no
 * pipelining). Its bytes are built per call (h1-request.ts); a request the fast path cannot build
 * exactly (credentials in the URL, a framing header) goes to the undici exchange. https origins
 * use the test's TLS options (tls-options.ts) and report each handshake to `link.handshake`.
 *
 * Why: undici's `dispatch` costs about as much CPU per request as autocannon (fast.ts), and a
 * scenario step pays it on every request; the parser here hands over the head and body only when
 * a step's checks or captures read them.
 *
 * A sweeper fails every request older than the request timeout, waiting ones included (its
 * connection goes with it), as the transports do.
 */
export class FastExchange implements Exchange {
  private readonly pools = new Map<string, OriginPool>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly connections: number,
    private readonly fallback: UndiciExchange,
    private readonly link: TlsLink = { tls: undefined, perRequest: false, handshake: undefined },
  ) {}

  send(req: ExchangeRequest, keep: ExchangeKeep): Promise<ExchangeResult> {
    const sentMs = nowMs();
    if (this.closed) return Promise.resolve({ ok: false, kind: "aborted", sentMs, endMs: sentMs });
    const bytes = buildRequest(req.url, req.method, req.headers, req.body);
    if (bytes === undefined) return this.fallback.send(req, keep);
    const pool = this.pool(req.url);
    return new Promise<ExchangeResult>((resolve) => pool.take(new H1Job(req.method, bytes, req.method === "HEAD", keep, req.onBody, sentMs, resolve)));
  }

  /** The pool of `url`'s origin, made on first use. */
  private pool(url: URL): OriginPool {
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      pool = new OriginPool(endpointOf(url, this.link.tls, this.link.perRequest), this.link.handshake, this.connections);
      this.pools.set(url.origin, pool);
      this.sweeper ??= this.startSweeper();
    }
    return pool;
  }

  private startSweeper(): NodeJS.Timeout {
    const timer = setInterval(() => {
      const oldest = nowMs() - this.timeoutMs;
      for (const pool of this.pools.values()) pool.sweep(oldest);
    }, Math.min(1000, Math.max(50, this.timeoutMs / 4)));
    timer.unref();
    return timer;
  }

  /**
   * Connects up to `connections` sockets (at most the pool's limit) to each origin; resolves when
   * each connected or failed, or after the request timeout. Not with a handshake per request:
   * each request opens its own.
   */
  async prepare(origins: readonly URL[], connections: number): Promise<void> {
    if (this.link.perRequest) return;
    const opened: Promise<boolean>[] = [];
    for (const url of new Map(origins.filter((u) => u.protocol === "http:" || u.protocol === "https:").map((u) => [u.origin, u])).values())
      opened.push(...this.pool(url).connectAhead(Math.min(connections, this.connections)));
    if (opened.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(opened), new Promise((r) => (timer = setTimeout(r, this.timeoutMs)))]);
    clearTimeout(timer);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    // The sweeper runs on until the requests waited for have ended: a graceful close is bounded by the request timeout.
    await Promise.all([...[...this.pools.values()].map((p) => p.close(force)), this.fallback.close(force)]);
    this.pools.clear();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** The connections to one origin and the requests waiting for one. */
class OriginPool implements H1JobPool {
  private readonly all = new Set<H1ExchangeConnection>();
  /** Free connections; the most recently freed is used first (it is the most likely to be alive). */
  private readonly idle: H1ExchangeConnection[] = [];
  /** Requests waiting for a connection, oldest first. */
  private waiting: H1Job[] = [];
  private closing = false;
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly handshake: ((ms: number) => void) | undefined,
    private readonly limit: number,
  ) {}

  /** Sends `job` on a free connection, or a new one under the limit, or queues it. */
  take(job: H1Job): void {
    if (this.closing) return job.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    const free = this.idle.pop();
    if (free !== undefined) free.run(job);
    else if (this.all.size < this.limit) this.open().run(job);
    else this.waiting.push(job);
  }

  private open(): H1ExchangeConnection {
    const c = new H1ExchangeConnection(this, this.endpoint, this.handshake);
    this.all.add(c);
    return c;
  }

  /** Opens connections until `count` exist; their connect outcomes. */
  connectAhead(count: number): Promise<boolean>[] {
    const opened: Promise<boolean>[] = [];
    while (this.all.size < count) {
      const c = this.open();
      this.idle.push(c);
      opened.push(c.connectAhead());
    }
    return opened;
  }

  release(c: H1ExchangeConnection): void {
    const next = this.waiting.shift();
    if (next !== undefined) c.run(next);
    else if (this.closing) c.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    else this.idle.push(c);
  }

  dropped(c: H1ExchangeConnection, retry: H1Job | undefined): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A job sent again goes first; a waiting one takes the freed place.
    const next = retry ?? this.waiting.shift();
    if (next !== undefined) {
      if (this.closing) next.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
      else this.open().run(next);
    }
    if (this.all.size === 0) this.onIdle?.();
  }

  /** Fails every request sent before `oldestMs`: a waiting one at once, one in flight with its connection. */
  sweep(oldestMs: number): void {
    while (this.waiting.length > 0 && this.waiting[0]!.sentMs < oldestMs) this.waiting.shift()!.fail(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
    for (const c of this.all) if (c.job !== undefined && c.job.sentMs < oldestMs) c.fail(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
  }

  /** Closes every connection: idle ones now; busy ones after their request (now, failing it, with `force`). */
  close(force: boolean): Promise<void> {
    this.closing = true;
    const stopped = codeError("the driver stopped sending", "UND_ERR_DESTROYED");
    for (const job of this.waiting.splice(0)) job.fail(stopped);
    for (const c of [...this.all]) if (force || c.job === undefined) c.fail(stopped);
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onIdle = resolve));
  }
}
