/**
 * One request of the HTTP/2 exchange (h2-exchange.ts) on a node:http2 stream: it waits for a
 * connection's stream, collects the status and body bytes (the headers, trailers and body only when
 * kept; `onBody` sees every chunk), and resolves once: with the response, or with a failure named
 * by h2-dial.ts's error kinds. A stream the server refused before answering (REFUSED_STREAM) frees
 * its place and goes back to the exchange, {@link MAX_RETRIES} times at most; an origin that fell
 * back to HTTP/1.1 hands the request over to that exchange.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import { nowMs } from "../clock.js";
import { codeError } from "./error-kind.js";
import { addHeader, NO_BODY, NO_HEADERS } from "./exchange-response.js";
import type { Exchange, ExchangeKeep, ExchangeRequest, ExchangeResult } from "./exchange.js";
import { h2ErrorKind, MAX_RETRIES, REFUSED_STREAM, resetError } from "./h2-dial.js";

/** What a request needs of its exchange. */
export interface H2RequestOwner {
  /** The requests not ended yet (the sweeper's): a request leaves it when it ends. */
  readonly active: Set<H2Pending>;
  /** Closed: a refused request is not sent again. */
  readonly closed: boolean;
  /** `p` was not processed by the server: it goes to a connection again. */
  again(p: H2Pending): void;
}

/** The connection a request was given to. */
export interface H2RequestSession {
  /** Why the connection failed, when it did (a cancelled stream learns its cause from it). */
  readonly error: Error | undefined;
  /** A request of this connection ended: its stream's place is free. */
  ended(): void;
}

/** Response headers or trailers as the exchange hands them over: pseudo-headers dropped. */
function plainHeaders(raw: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) addHeader(out, name, v);
    else addHeader(out, name, String(value));
  }
  return out;
}

/** One request: waits for a stream, then collects what is kept; resolves once. */
export class H2Pending {
  /** The connection it was given to (set by the connection, cleared once it ends). */
  session: H2RequestSession | undefined;
  private stream: ClientHttp2Stream | undefined;
  private status = 0;
  private bytes = 0;
  private headers = NO_HEADERS;
  private trailers = NO_HEADERS;
  private chunks: Buffer[] | undefined;
  private error: Error | undefined;
  private retries = 0;
  /** Ended (resolved, or handed to the HTTP/1.1 exchange). */
  done = false;

  constructor(
    private readonly owner: H2RequestOwner,
    readonly req: ExchangeRequest,
    private readonly keep: ExchangeKeep,
    readonly sentMs: number,
    private readonly resolve: (r: ExchangeResult) => void,
  ) {}

  /** The request's stream opened: what it is told is collected, its body sent. */
  start(stream: ClientHttp2Stream): void {
    this.stream = stream;
    stream.on("response", (h) => {
      this.status = Number(h[":status"]);
      if (this.keep.headers) this.headers = plainHeaders(h);
      if (this.keep.body) this.chunks = [];
    });
    stream.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
      this.req.onBody?.(chunk, nowMs());
      this.chunks?.push(chunk);
    });
    stream.on("trailers", (t) => {
      if (this.keep.headers) this.trailers = plainHeaders(t);
    });
    stream.on("error", (err) => (this.error ??= err));
    stream.on("close", () => this.closed(stream));
    const body = this.req.body;
    if (body !== undefined) stream.end(typeof body === "string" ? Buffer.from(body, "utf8") : body);
  }

  private closed(stream: ClientHttp2Stream): void {
    if (this.done) return;
    const code = stream.rstCode ?? 0;
    if (code === REFUSED_STREAM && this.status === 0 && this.retries < MAX_RETRIES && !this.owner.closed) return this.sendAgain();
    if (this.status > 0 && this.error === undefined && code === constants.NGHTTP2_NO_ERROR) {
      const chunks = this.chunks;
      const body = chunks === undefined ? NO_BODY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.bytes);
      this.finish({ ok: true, status: this.status, headers: this.headers, body, bytes: this.bytes, protocol: "h2", trailers: this.trailers, sentMs: this.sentMs, endMs: nowMs() });
      return;
    }
    // A cancelled stream learns why from its connection, which reports it a moment later.
    const err = this.error ?? (code !== constants.NGHTTP2_NO_ERROR && code !== constants.NGHTTP2_CANCEL ? resetError(code) : undefined);
    setImmediate(() => this.finish({ ok: false, kind: h2ErrorKind(err ?? codeError("stream cancelled", "ERR_HTTP2_STREAM_CANCEL"), this.session?.error), sentMs: this.sentMs, endMs: nowMs() }));
  }

  /** Not processed by the server: the stream's place freed, the request goes to a connection again. */
  private sendAgain(): void {
    this.retries++;
    this.stream = undefined;
    this.error = undefined;
    const s = this.session;
    this.session = undefined;
    s?.ended();
    this.owner.again(this);
  }

  /** The request's origin fell back to HTTP/1.1: `fallback` sends it. */
  handOver(fallback: Exchange): void {
    this.done = true;
    this.owner.active.delete(this);
    this.session = undefined;
    void fallback.send(this.req, this.keep).then(this.resolve);
  }

  /** Ends the request now as a failure of `err`'s kind (its stream cancelled). */
  fail(err: Error): void {
    if (this.done) return;
    if (this.stream && !this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
    this.finish({ ok: false, kind: h2ErrorKind(err, this.session?.error), sentMs: this.sentMs, endMs: nowMs() });
  }

  private finish(r: ExchangeResult): void {
    if (this.done) return;
    this.done = true;
    this.owner.active.delete(this);
    const s = this.session;
    this.session = undefined;
    this.resolve(r);
    s?.ended();
  }
}
