/**
 * The HTTP/2 transports (TestSpec.http.version 2), chosen by {@link createH2Transport}: h2c
 * requests that fit one HEADERS and one DATA frame go over the fast path (h2-fast.ts); HTTP/2
 * over TLS (ALPN, with the HTTP/1.1 fallback) and larger requests over the HTTP/2 exchange
 * (h2-exchange.ts) through {@link ExchangeTransport}.
 */
import { MAX_CONNECTIONS } from "../../workload/defaults.js";
import type { ConnectionOptions } from "./connection-options.js";
import { createExchange } from "./exchange.js";
import { ExchangeTransport } from "./exchange-transport.js";
import { dialTarget } from "./h2-dial.js";
import { H2FastTransport } from "./h2-fast.js";
import { requestFrames } from "./h2-frames.js";
import type { Outcomes, RequestTemplate, Transport, TransportKind } from "./transport.js";


/** The HTTP/2 transport for `request`. */
export function createH2Transport(request: RequestTemplate, outcomes: Outcomes, kind: TransportKind, http: ConnectionOptions): Transport {
  const frames = request.url.protocol === "http:" ? requestFrames(request.method, request.url, request.headers, request.body) : undefined;
  if (frames !== undefined) return new H2FastTransport(request, frames, dialTarget(request.url, http), outcomes, http);
  const handshake = outcomes.handshake ? (ms: number) => outcomes.handshake!(ms) : undefined;
  const exchange = createExchange({ kind, timeoutMs: request.timeoutMs, connections: http.connections > 0 ? http.connections : MAX_CONNECTIONS, http, handshake });
  return new ExchangeTransport(request, exchange, outcomes, (concurrency, open) => {
    const inFlight = concurrency > 0 ? concurrency : Math.min(open?.maxInFlight ?? http.streams, MAX_CONNECTIONS);
    return http.connections > 0 ? http.connections : Math.ceil(inFlight / http.streams);
  });
}
