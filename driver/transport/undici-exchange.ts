import { Pool, type Dispatcher } from "undici";
import { nowMs } from "../clock.js";
import { endpointOf, type TlsLink } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";
import { addHeader, NO_BODY, NO_HEADERS } from "./exchange-response.js";
import type { Exchange, ExchangeKeep, ExchangeRequest, ExchangeResult } from "./exchange.js";
import { undiciTimeouts } from "./undici.js";

/**
 * The `undici` {@link Exchange}: one undici `Pool` per origin (at most `connections` keep-alive
 * connections, requests beyond them queued by the pool), each request dispatched with a handler
 * object that counts the body and copies it (and the headers) only when asked; a body not kept is
 * read and dropped, as undici's `dump` does, so the connection is reused. This is `request()`
 * without its per-request stream and promise chain: the handler resolves the one promise of the send.
 *
 * undici's own timers bound the wait for headers and the gap between body chunks; a sweeper
 * bounds the whole exchange (waiting for a connection included) by the request timeout, as the
 * `undici` transport does (undici.ts).
 */
export class UndiciExchange implements Exchange {
  private readonly pools = new Map<string, Pool>();
  private readonly active = new Set<Pending>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly connections: number,
    /** https origins: the test's TLS options, a handshake per request or not, where handshakes are told. */
    private readonly link: TlsLink = { tls: undefined, perRequest: false, handshake: undefined },
  ) {}

  /** The pool of `url`'s origin, made on first use. */
  private pool(url: URL): Pool {
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      const endpoint = url.protocol === "https:" ? endpointOf(url, this.link.tls, this.link.perRequest) : undefined;
      pool = new Pool(url.origin, { ...undiciTimeouts(this.timeoutMs, endpoint, this.link.handshake), connections: this.connections });
      this.pools.set(url.origin, pool);
    }
    return pool;
  }

  send(req: ExchangeRequest, keep: ExchangeKeep): Promise<ExchangeResult> {
    const sentMs = nowMs();
    if (this.closed) return Promise.resolve({ ok: false, kind: "aborted", sentMs, endMs: sentMs });
    return new Promise<ExchangeResult>((resolve) => {
      const pending = new Pending(this, keep, req.onBody, sentMs, resolve);
      this.active.add(pending);
      this.sweeper ??= this.startSweeper();
      try {
        const url = req.url;
        this.pool(url).dispatch(
          {
            origin: url.origin,
            path: url.pathname + url.search,
            method: req.method as Dispatcher.HttpMethod,
            headers: req.headers,
            body: req.body === undefined ? null : typeof req.body === "string" ? req.body : Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength),
            reset: this.link.perRequest,
          },
          pending,
        );
      } catch (err) {
        pending.onError(err as Error);
      }
    });
  }

  /** A request ended (resolved): it leaves the sweeper's watch. */
  ended(pending: Pending): void {
    this.active.delete(pending);
  }

  private startSweeper(): NodeJS.Timeout {
    const timer = setInterval(() => {
      const oldest = nowMs() - this.timeoutMs;
      for (const p of this.active) if (p.sentMs < oldest) p.abortForTimeout();
    }, Math.min(1000, Math.max(50, this.timeoutMs / 4)));
    timer.unref();
    return timer;
  }

  /** undici opens connections when requests need them: this makes the pools ahead. */
  prepare(origins: readonly URL[]): void {
    for (const url of origins) this.pool(url);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    if (force) for (const p of [...this.active]) p.abortWith(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    await Promise.all(pools.map((p) => (force ? p.destroy() : p.close())));
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** One request in flight, as undici's dispatch handler: collects what is kept, resolves once. */
class Pending implements Dispatcher.DispatchHandler {
  private status = 0;
  private bytes = 0;
  private headers = NO_HEADERS;
  private chunks: Buffer[] | undefined;
  private abort: ((err: Error) => void) | undefined;
  private done = false;

  constructor(
    private readonly owner: UndiciExchange,
    private readonly keep: ExchangeKeep,
    private readonly onBody: ((chunk: Uint8Array, nowMs: number) => void) | undefined,
    readonly sentMs: number,
    private readonly resolve: (r: ExchangeResult) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    // Timed out (or closed) while it waited in the pool's queue: it goes no further.
    if (this.done) abort(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
  }

  onHeaders(statusCode: number, rawHeaders: (Buffer | Buffer[])[]): boolean {
    this.status = statusCode;
    if (statusCode < 200) return true;
    if (this.keep.headers) {
      const headers: Record<string, string | string[]> = {};
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = String(rawHeaders[i]).toLowerCase();
        const value = rawHeaders[i + 1]!;
        if (Array.isArray(value)) for (const v of value) addHeader(headers, name, v.toString("latin1"));
        else addHeader(headers, name, value.toString("latin1"));
      }
      this.headers = headers;
    }
    if (this.keep.body) this.chunks = [];
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    this.onBody?.(chunk, nowMs());
    this.chunks?.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.owner.ended(this);
    const chunks = this.chunks;
    const body = chunks === undefined ? NO_BODY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.bytes);
    this.resolve({ ok: true, status: this.status, headers: this.headers, body, bytes: this.bytes, protocol: "http/1.1", trailers: NO_HEADERS, sentMs: this.sentMs, endMs: nowMs() });
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.owner.ended(this);
    this.resolve({ ok: false, kind: errorKind(err), sentMs: this.sentMs, endMs: nowMs() });
  }

  /** Ends the request with `err` (aborting it in undici when it was dispatched). */
  abortWith(err: Error): void {
    if (this.abort) this.abort(err);
    // undici calls onError from the abort, or later when the request was still queued: resolve now either way.
    this.onError(err);
  }

  /** Ends the request as a timeout (the whole exchange took longer than the request timeout). */
  abortForTimeout(): void {
    this.abortWith(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
  }
}
