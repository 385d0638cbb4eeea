/**
 * The HTTP/2 transports (TestSpec.http.version 2), chosen by {@link createH2Transport}: requests
 * that fit one HEADERS and one DATA frame go over the fast path (h2-fast.ts), h2c and over TLS by
 * ALPN (a server that picks HTTP/1.1 is then spoken to over the HTTP/1.1 exchange,
 * {@link h1Fallback}); larger requests, and a TLS handshake per request, over the HTTP/2 exchange
 * (h2-exchange.ts) through {@link ExchangeTransport}.
 */
import { MAX_CONNECTIONS } from "../../workload/defaults.js";
import type { ConnectionOptions } from "./connection-options.js";
import { createExchange, type Exchange } from "./exchange.js";
import { ExchangeTransport } from "./exchange-transport.js";
import { dialTarget } from "./h2-dial.js";
import { H2FastTransport } from "./h2-fast.js";
import { requestFrames } from "./h2-frames.js";
import type { Outcomes, RequestTemplate, Transport, TransportKind } from "./transport.js";

/** The HTTP/2 transport for `request`. */
export function createH2Transport(request: RequestTemplate, outcomes: Outcomes, kind: TransportKind, http: ConnectionOptions): Transport {
  const handshake = outcomes.handshake ? (ms: number) => outcomes.handshake!(ms) : undefined;
  const frames = fastPathCarries(request.url, http) ? requestFrames(request.method, request.url, request.headers, request.body) : undefined;
  if (frames !== undefined)
    return new H2FastTransport(request, frames, dialTarget(request.url, http), outcomes, http, false, h1Fallback(request.url, kind, request.timeoutMs, http, handshake));
  const exchange = createExchange({ kind, timeoutMs: request.timeoutMs, connections: h1Connections(http), http, handshake });
  return new ExchangeTransport(request, exchange, outcomes, (concurrency, open) => {
    const inFlight = concurrency > 0 ? concurrency : Math.min(open?.maxInFlight ?? http.streams, MAX_CONNECTIONS);
    return http.connections > 0 ? http.connections : Math.ceil(inFlight / http.streams);
  });
}

/** Connections per origin of the HTTP/1.1 exchange behind HTTP/2: the test's connections, else as many as the loops need. */
function h1Connections(http: ConnectionOptions): number {
  return http.connections > 0 ? http.connections : MAX_CONNECTIONS;
}

/**
 * Whether the HTTP/2 fast path carries requests to `url` (when they fit its frames): h2c, or HTTP/2
 * over TLS by ALPN unless each request takes a handshake of its own (HTTP/1.1's: CreateTest refuses
 * it with HTTP/2, and the exchange's HTTP/1.1 fallback honours it).
 */
export function fastPathCarries(url: URL, http: ConnectionOptions): boolean {
  return url.protocol === "http:" || (url.protocol === "https:" && !http.handshakePerRequest);
}

/**
 * What builds the HTTP/1.1 exchange the fast path falls back to when a TLS server picks `http/1.1`
 * by ALPN: the one the HTTP/2 exchange falls back to (exchange.ts), with the same connections.
 * None for h2c, which has no ALPN.
 */
export function h1Fallback(url: URL, kind: TransportKind | undefined, timeoutMs: number, http: ConnectionOptions, handshake: ((ms: number) => void) | undefined): (() => Exchange) | undefined {
  if (url.protocol !== "https:") return undefined;
  return () => createExchange({ kind, timeoutMs, connections: h1Connections(http), http: { ...http, version: 1 }, handshake });
}
