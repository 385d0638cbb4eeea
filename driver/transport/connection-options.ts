/**
 * How a test's requests reach the target (protocol.proto HttpOptions), resolved once for the
 * driver's load part: the HTTP version, HTTP/2's streams per connection and connections (h2load's
 * `-m` and `-c`), and the TLS options of https:// targets. Transports and exchanges take it as
 * their `http` option (transport.ts, exchange.ts).
 */
import { HttpVersion, type HttpOptions, type TlsOptions } from "../../gen/kannon/v1/protocol_pb.js";

/** HTTP/2 streams in flight on one connection when the test says nothing (h2load's default -m is 1; nginx allows 128). */
export const DEFAULT_STREAMS = 100;

/** A test's connection options, defaults filled in. */
export interface ConnectionOptions {
  /** 1: HTTP/1.1 (the default); 2: HTTP/2 (h2c with prior knowledge on http://, ALPN on https://). */
  version: 1 | 2;
  /** HTTP/2: streams in flight on one connection. */
  streams: number;
  /** HTTP/2: connections per driver; 0 = derived from the concurrency (or the open model's rate) and `streams`. */
  connections: number;
  /** https:// targets: how to verify and present certificates (undefined: the system's CAs). */
  tls: TlsOptions | undefined;
  /** A new TLS connection for every request (handshake load). */
  handshakePerRequest: boolean;
}

/** The connection options of a test's `http` field (absent: HTTP/1.1 with the defaults). */
export function connectionOptionsFrom(http: HttpOptions | undefined): ConnectionOptions {
  return {
    version: http?.version === HttpVersion.HTTP_VERSION_2 ? 2 : 1,
    streams: http?.streamsPerConnection || DEFAULT_STREAMS,
    connections: http?.connections ?? 0,
    tls: http?.tls,
    handshakePerRequest: http?.tls?.handshakePerRequest ?? false,
  };
}

/**
 * One load thread's connection options: a driver's `connections` split over its threads as evenly
 * as whole numbers allow (at least 1 each; the driver runs no more threads than connections).
 */
export function connectionOptionsForThread(http: HttpOptions | undefined, thread: { index: number; count: number }): ConnectionOptions {
  const o = connectionOptionsFrom(http);
  const c = o.connections;
  if (c > 0) o.connections = Math.max(1, Math.floor(c / thread.count) + (thread.index < c % thread.count ? 1 : 0));
  return o;
}
