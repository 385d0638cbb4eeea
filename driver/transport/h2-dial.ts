/**
 * How HTTP/2 reaches a target (issue 23): `http:` with prior knowledge (h2c: the client speaks
 * HTTP/2 from the first byte), `https:` by ALPN (`h2`, `http/1.1`) with the test's TLS options
 * (tls-options.ts); a TLS server that picks `http/1.1` is spoken to in HTTP/1.1 by the caller.
 * {@link dialSocket} opens the socket (timing the TLS handshake from the TCP connection to
 * secureConnect); {@link h2ErrorKind} names what failed.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ConnectionOptions } from "./connection-options.js";
import { dial, endpointOf, type Endpoint } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";

/** What a dial ends in: a socket speaking HTTP/2, a TLS server that chose HTTP/1.1, or a failure. */
export type Dialed = { h2: true; socket: Socket } | { h2: false; socket: TLSSocket } | { error: Error };

/** Where to dial (dial.ts's endpoint; `https:` offering `h2` then `http/1.1` by ALPN). */
export type DialTarget = Endpoint;

/** The dial target of `url`'s origin with the test's connection options. */
export function dialTarget(url: URL, http: ConnectionOptions): DialTarget {
  const e = endpointOf(url, http.tls, false);
  return e.tls === undefined ? e : { ...e, tls: { ...e.tls, ALPNProtocols: ["h2", "http/1.1"] } };
}

/**
 * Opens a socket to `t` (dial.ts) and calls `done` once: connected (h2c), or TLS done with the
 * protocol the server chose (`handshake` gets the handshake's ms), or failed (a refused
 * connection, a certificate that does not verify, nothing within `timeoutMs`).
 */
export function dialSocket(t: DialTarget, timeoutMs: number, handshake: ((ms: number) => void) | undefined, done: (d: Dialed) => void): void {
  let finished = false;
  const finish = (d: Dialed) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener("error", failed);
    socket.removeListener("close", closed);
    if ("error" in d) socket.destroy();
    done(d);
  };
  const failed = (err: Error) => finish({ error: err });
  const closed = () => finish({ error: codeError("connection closed before it was established", "UND_ERR_SOCKET") });
  const timer = setTimeout(() => finish({ error: codeError(`no connection to ${t.host}:${t.port} within ${timeoutMs} ms`, "KANNON_REQUEST_TIMEOUT") }), timeoutMs);
  const socket = dial(
    t,
    () => {
      const alpn = (socket as TLSSocket).alpnProtocol;
      finish(t.tls === undefined || alpn === "h2" ? { h2: true, socket } : { h2: false, socket: socket as TLSSocket });
    },
    handshake,
  );
  socket.on("error", failed);
  socket.once("close", closed);
}

/** nghttp2's PROTOCOL_ERROR (RST_STREAM and GOAWAY error codes). */
const PROTOCOL_ERROR = 1;
/** REFUSED_STREAM: the server did not process the stream (RFC 9113 §8.7; also a stream above a GOAWAY's last id). */
export const REFUSED_STREAM = 7;
/** Sends of a request the server did not process, at most, after the first. */
export const MAX_RETRIES = 3;

/**
 * The error kind of an HTTP/2 failure: `h2_protocol` for a protocol error (an h2c target that
 * answered in HTTP/1.1, a bad preface, RST_STREAM or GOAWAY with PROTOCOL_ERROR), else the kind
 * of error-kind.ts (`reset`, `connect_refused`, `tls_verify`, …). `cause` is what the connection
 * itself failed with, when known (a stream is cancelled before its session reports why).
 */
export function h2ErrorKind(err: unknown, cause?: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = e?.code;
  if (code === "ERR_HTTP2_ERROR" || code === "ERR_HTTP2_INVALID_SESSION") return cause !== undefined && cause !== err ? h2ErrorKind(cause) : "h2_protocol";
  if (code === "ERR_HTTP2_STREAM_ERROR" || code === "ERR_HTTP2_SESSION_ERROR" || code === "ERR_HTTP2_GOAWAY_SESSION") {
    return /PROTOCOL_ERROR|code 1\b/.test(String(e?.message)) ? "h2_protocol" : "reset";
  }
  if (code === "ERR_HTTP2_STREAM_CANCEL") return cause !== undefined ? h2ErrorKind(cause) : "reset";
  return errorKind(err);
}

/** The error of a stream reset by the peer with `rstCode` (RFC 9113 §7). */
export function resetError(rstCode: number): Error {
  return rstCode === PROTOCOL_ERROR ? codeError("the target reset the stream: PROTOCOL_ERROR", "KANNON_H2_PROTOCOL") : codeError(`the target reset the stream (error code ${rstCode})`, "ECONNRESET");
}
