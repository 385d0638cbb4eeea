/**
 * One dynamic request and its whole response: what a scenario's step sends (its request is built
 * per iteration from templates, and its checks and captures read the answer). The {@link Transport}
 * interface sends one fixed request shape as fast as it can and only counts the answers; an
 * {@link Exchange} sends whatever it is given and hands back the status, the headers and the body
 * when asked for them.
 *
 * Kinds, as for transports: `fast` (the default) sends `http:` and `https:` requests it can build
 * exactly over a keep-alive pool of TCP or TLS sockets (fast-exchange.ts) and everything else over
 * undici; `undici` sends everything over undici pools (undici-exchange.ts). With the test's `http.version`
 * 2, every kind sends over HTTP/2 (h2-exchange.ts; HTTP/1.1 when a TLS server picks it by ALPN).
 */
import type { ConnectionOptions } from "./connection-options.js";
import { FastExchange } from "./fast-exchange.js";
import { H2Exchange } from "./h2-exchange.js";
import { TRANSPORT_KINDS, type TransportKind } from "./transport.js";
import { UndiciExchange } from "./undici-exchange.js";

/** One request, built per call. `headers` as given (a `host` header overrides the URL's). */
export interface ExchangeRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** A string is sent as UTF-8. */
  body: string | Uint8Array | undefined;
  /**
   * Called with each body chunk as it arrives (kept or not) and the epoch ms it arrived at: for
   * timing a stream's messages. The chunk may be reused after the call: copy what is kept.
   */
  onBody?: ((chunk: Uint8Array, nowMs: number) => void) | undefined;
}

/** What the caller reads from the response (its checks and captures): nothing else is copied. */
export interface ExchangeKeep {
  body: boolean;
  headers: boolean;
}

/**
 * A response (`ok`), or a failure without one. Times are epoch milliseconds: `sentMs` when
 * {@link Exchange.send} was called (waiting for a free connection and connecting count), `endMs`
 * when the last byte arrived or the failure happened.
 */
export type ExchangeResult =
  | {
      ok: true;
      status: number;
      /** Lower-case names; a repeated header is an array in arrival order. Empty unless `keep.headers`. */
      headers: Record<string, string | string[]>;
      /** Empty unless `keep.body`. */
      body: Uint8Array;
      /** Body bytes received (counted whether kept or not). */
      bytes: number;
      /** The protocol that carried the response. */
      protocol: "http/1.1" | "h2";
      /** Lower-case names, as `headers`. Empty unless `keep.headers`; HTTP/1.1: always empty. */
      trailers: Record<string, string | string[]>;
      sentMs: number;
      endMs: number;
    }
  | {
      ok: false;
      /** An error kind of error-kind.ts (`connect_refused`, `timeout`, `reset`, `protocol`, …). */
      kind: string;
      sentMs: number;
      endMs: number;
    };

/** Sends dynamic requests over pooled keep-alive connections, one pool per origin. */
export interface Exchange {
  /** Never rejects: a failure is {ok:false}. headers keys lower case; body empty unless keep.body. */
  send(req: ExchangeRequest, keep: ExchangeKeep): Promise<ExchangeResult>;
  /** Opens up to `connections` keep-alive connections per origin ahead of the start (origins known from constant URLs). */
  prepare(origins: readonly URL[], connections: number): Promise<void> | void;
  /**
   * Closes every connection. Without `force`, requests in flight end first; with `force` they
   * fail at once (`aborted`). A send after close fails as `aborted`.
   */
  close(force: boolean): Promise<void>;
}

/** Options of {@link createExchange}. */
export interface ExchangeOptions {
  /** Default `fast`. */
  kind?: TransportKind | undefined;
  /** A request not ended after this long fails as `timeout` (waiting for a connection included). */
  timeoutMs: number;
  /** At most this many connections per origin; more requests wait for a free one. */
  connections: number;
  /** The test's connection options (HTTP version, HTTP/2 streams and connections, TLS); default HTTP/1.1. */
  http?: ConnectionOptions | undefined;
  /** Told each TLS handshake's milliseconds, TCP connected → secureConnect (the recorder's handshake histogram). */
  handshake?: ((ms: number) => void) | undefined;
}

/** The exchange of kind `o.kind`. Throws a RangeError naming the bad option. */
export function createExchange(o: ExchangeOptions): Exchange {
  const kind = o.kind ?? "fast";
  if (!TRANSPORT_KINDS.includes(kind)) throw new RangeError(`transport must be one of ${TRANSPORT_KINDS.join(", ")}, got ${String(kind)}`);
  if (!(o.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${o.timeoutMs}`);
  if (!Number.isInteger(o.connections) || o.connections < 1) throw new RangeError(`connections must be an integer >= 1, got ${o.connections}`);
  const http = o.http;
  if (http?.version === 2) {
    // At most `streams` requests per connection: as many connections as the loops need, unless the test names them.
    const sessions = http.connections > 0 ? http.connections : Math.ceil(o.connections / http.streams);
    return new H2Exchange(o.timeoutMs, sessions, http, createExchange({ ...o, http: { ...http, version: 1 } }), o.handshake);
  }
  const link = { tls: o.http?.tls, perRequest: o.http?.handshakePerRequest ?? false, handshake: o.handshake };
  const undici = new UndiciExchange(o.timeoutMs, o.connections, link);
  return kind === "fast" ? new FastExchange(o.timeoutMs, o.connections, undici, link) : undici;
}
