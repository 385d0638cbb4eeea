/**
 * The HTTP/2 {@link Exchange} over node:http2: per origin, up to `sessions` connections of up to
 * `streams` streams each (h2load's -c and -m); a request takes the least busy connection with a
 * free stream, opens a new connection under the limit, or waits in a FIFO queue. h2c with prior
 * knowledge on `http:`; ALPN on `https:`, where an origin whose server picks HTTP/1.1 is handed to
 * the HTTP/1.1 exchange (`fallback`) from then on. A connection is used once the server's SETTINGS
 * arrived: an h2c target that answers in HTTP/1.1 fails each request as `h2_protocol`.
 *
 * Each request (h2-exchange-request.ts) keeps the headers, body and trailers only when asked;
 * `onBody` sees every chunk. A request the server did not process (REFUSED_STREAM, or above a
 * GOAWAY's last stream id) is sent again, a few times at most. A sweeper fails every request older
 * than the request timeout (waiting ones included).
 */
import { connect as h2Connect, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import { nowMs } from "../clock.js";
import type { ConnectionOptions } from "./connection-options.js";
import { codeError } from "./error-kind.js";
import type { Exchange, ExchangeKeep, ExchangeRequest, ExchangeResult } from "./exchange.js";
import { dialSocket, dialTarget, type DialTarget } from "./h2-dial.js";
import { H2Pending, type H2RequestOwner, type H2RequestSession } from "./h2-exchange-request.js";
import { requestFields } from "./h2-frames.js";

/** The node:http2 request headers of `req`. */
function h2RequestHeaders(req: ExchangeRequest): OutgoingHttpHeaders {
  return Object.fromEntries(requestFields(req.method, req.url, req.headers));
}

/** The HTTP/2 exchange; see the file comment. */
export class H2Exchange implements Exchange, H2RequestOwner {
  private readonly origins = new Map<string, H2Origin>();
  private readonly fallbackOrigins = new Set<string>();
  readonly active = new Set<H2Pending>();
  private sweeper: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly timeoutMs: number,
    /** Connections per origin at most. */
    private readonly sessions: number,
    readonly http: ConnectionOptions,
    /** The HTTP/1.1 exchange for https origins whose server picks http/1.1. */
    private readonly fallback: Exchange,
    readonly handshake: ((ms: number) => void) | undefined,
  ) {}

  send(req: ExchangeRequest, keep: ExchangeKeep): Promise<ExchangeResult> {
    const sentMs = nowMs();
    if (this.closed) return Promise.resolve({ ok: false, kind: "aborted", sentMs, endMs: sentMs });
    if (this.fallbackOrigins.has(req.url.origin)) return this.fallback.send(req, keep);
    return new Promise<ExchangeResult>((resolve) => {
      const p = new H2Pending(this, req, keep, sentMs, resolve);
      this.active.add(p);
      this.sweeper ??= this.startSweeper();
      this.origin(req.url).take(p);
    });
  }

  private origin(url: URL): H2Origin {
    let o = this.origins.get(url.origin);
    if (o === undefined) {
      o = new H2Origin(this, url.origin, dialTarget(url, this.http), this.sessions);
      this.origins.set(url.origin, o);
    }
    return o;
  }

  /** `p` was not processed by the server: it is sent again like a new request (its timeout still counted from its first send). */
  again(p: H2Pending): void {
    if (this.fallbackOrigins.has(p.req.url.origin)) p.handOver(this.fallback);
    else this.origin(p.req.url).take(p);
  }

  /** The origin's server picked HTTP/1.1: its requests (`waiting` too) go to the HTTP/1.1 exchange from now on. */
  fellBack(origin: string, waiting: H2Pending[]): void {
    this.fallbackOrigins.add(origin);
    this.origins.delete(origin);
    for (const p of waiting) p.handOver(this.fallback);
  }

  private startSweeper(): NodeJS.Timeout {
    const timer = setInterval(() => {
      const oldest = nowMs() - this.timeoutMs;
      for (const p of this.active) if (p.sentMs < oldest) p.fail(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
    }, Math.min(1000, Math.max(50, this.timeoutMs / 4)));
    timer.unref();
    return timer;
  }

  async prepare(origins: readonly URL[], connections: number): Promise<void> {
    const opened: Promise<void>[] = [];
    for (const url of new Map(origins.map((u) => [u.origin, u])).values()) opened.push(this.origin(url).connectAhead(Math.min(connections, this.sessions)));
    await Promise.all(opened);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    if (force) for (const p of [...this.active]) p.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    await Promise.all([...[...this.origins.values()].map((o) => o.close(force)), this.fallback.close(force)]);
    this.origins.clear();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** The connections to one origin and the requests waiting for a stream. */
class H2Origin {
  private readonly all = new Set<H2Session>();
  private waiting: H2Pending[] = [];
  private onIdle: (() => void) | undefined;

  constructor(
    readonly owner: H2Exchange,
    readonly origin: string,
    readonly target: DialTarget,
    private readonly limit: number,
  ) {}

  take(p: H2Pending): void {
    let best: H2Session | undefined;
    for (const s of this.all) if (s.usable && s.active < this.owner.http.streams && (best === undefined || s.active < best.active)) best = s;
    if (best === undefined && this.all.size < this.limit) best = this.open();
    if (best === undefined) this.waiting.push(p);
    else best.run(p);
  }

  private open(): H2Session {
    const s = new H2Session(this);
    this.all.add(s);
    return s;
  }

  connectAhead(count: number): Promise<void> {
    const opened: Promise<void>[] = [];
    while (this.all.size < count) opened.push(this.open().ready);
    return Promise.all(opened).then(() => undefined);
  }

  /** A stream of `s` ended: a waiting request takes it. */
  freed(s: H2Session): void {
    while (this.waiting.length > 0 && s.usable && s.active < this.owner.http.streams) {
      const next = this.waiting.shift()!;
      if (next.done) continue;
      s.run(next);
    }
  }

  /** `s` is gone: waiting requests go to a new connection. */
  dropped(s: H2Session): void {
    this.all.delete(s);
    const waiting = this.waiting.splice(0).filter((p) => !p.done);
    for (const p of waiting) if (!this.owner.closed) this.take(p);
    if (this.all.size === 0) this.onIdle?.();
  }

  /** The server picked HTTP/1.1: everything here goes to the HTTP/1.1 exchange (what other connections still dialing hold too). */
  fellBack(pending: H2Pending[]): void {
    const waiting = this.waiting.splice(0);
    for (const s of [...this.all]) {
      pending.push(...s.queued.splice(0));
      s.destroy();
    }
    this.all.clear();
    this.owner.fellBack(this.origin, [...pending, ...waiting].filter((p) => !p.done));
  }

  close(force: boolean): Promise<void> {
    for (const p of this.waiting.splice(0)) p.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    for (const s of [...this.all]) if (force || s.active === 0) s.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onIdle = resolve));
  }
}

/** One connection: dialed, then an HTTP/2 session once the server's SETTINGS arrived. */
class H2Session implements H2RequestSession {
  private session: ClientHttp2Session | undefined;
  /** Requests given to it before it was ready (none sent yet). */
  queued: H2Pending[] = [];
  active = 0;
  usable = true;
  private dead = false;
  private cause: Error | undefined;
  readonly ready: Promise<void>;
  private isReady = false;

  constructor(private readonly origin: H2Origin) {
    this.ready = new Promise((resolve) => {
      const owner = origin.owner;
      dialSocket(origin.target, owner.timeoutMs, owner.handshake, (d) => {
        if ("error" in d) return resolve(this.gone(d.error));
        if (!d.h2) {
          d.socket.destroy();
          this.usable = false;
          resolve();
          return origin.fellBack(this.queued.splice(0));
        }
        const socket = d.socket;
        const session = h2Connect(origin.origin, { createConnection: () => socket, settings: { enablePush: false, initialWindowSize: 1 << 24 } });
        this.session = session;
        // A socket error ends the connection now: node:http2 may never close a session whose socket
        // failed before the server's SETTINGS (a TLS 1.3 server refusing the client's certificate).
        socket.on("error", (err) => {
          this.cause ??= err;
          this.gone(err);
          resolve();
          session.destroy();
        });
        session.on("error", (err) => (this.cause ??= err));
        session.on("goaway", () => (this.usable = false));
        session.once("close", () => {
          this.gone(this.cause ?? codeError("the target closed the connection", "UND_ERR_SOCKET"));
          resolve();
        });
        session.once("remoteSettings", () => {
          this.isReady = true;
          resolve();
          for (const p of this.queued.splice(0)) this.start(p);
        });
      });
    });
  }

  /** The connection failed or closed: requests it held fail with the reason, the origin forgets it. */
  private gone(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.usable = false;
    // Closed without an error before the server's SETTINGS on an established h2c connection: it does not speak HTTP/2.
    const silent = !this.isReady && this.session !== undefined && this.cause === undefined;
    this.cause ??= silent ? codeError("the target did not answer in HTTP/2", "KANNON_H2_PROTOCOL") : err;
    for (const p of this.queued.splice(0)) p.fail(this.cause);
    this.session = undefined;
    this.origin.dropped(this);
  }

  run(p: H2Pending): void {
    this.active++;
    p.session = this;
    if (this.isReady) this.start(p);
    else this.queued.push(p);
  }

  private start(p: H2Pending): void {
    if (p.done) return;
    const session = this.session;
    if (session === undefined || session.destroyed) return p.fail(this.cause ?? codeError("the connection is gone", "UND_ERR_SOCKET"));
    try {
      p.start(session.request(h2RequestHeaders(p.req), { endStream: p.req.body === undefined }));
    } catch (err) {
      p.fail(err as Error);
    }
  }

  /** A request of this connection ended. */
  ended(): void {
    this.active--;
    this.origin.freed(this);
  }

  /** Why the connection failed, when it did. */
  get error(): Error | undefined {
    return this.cause;
  }

  destroy(): void {
    this.usable = false;
    if (this.session) this.session.destroy();
    else this.gone(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
  }
}
