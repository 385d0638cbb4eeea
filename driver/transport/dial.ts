/**
 * How the HTTP/1.1 paths reach a target: a plain TCP socket for `http:`, a TLS socket for `https:`
 * (tls-options.ts), with the handshake timed from the TCP connection to secureConnect. One copy
 * for the fast path's connections (h1-connection.ts, h1-exchange-connection.ts) and for undici's
 * connector ({@link undiciConnector}), so both verify, present and time TLS the same way.
 */
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, createSecureContext, type ConnectionOptions as TlsConnectOptions } from "node:tls";
import type { buildConnector } from "undici";
import type { TlsOptions } from "../../gen/kannon/v1/protocol_pb.js";
import { nowMs } from "../clock.js";
import { codeError } from "./error-kind.js";
import { tlsConnectOptions } from "./tls-options.js";
import { dialSealed, nativeRecordLayer, type SealedEndpoint } from "./tls-record.js";

/** Where and how a connection to a target goes. */
export interface Endpoint {
  host: string;
  port: number;
  /** `https:`: the TLS options; undefined: plain TCP. */
  tls: TlsConnectOptions | undefined;
  /** A new connection for every request (handshake load): the client closes it after each response. */
  perRequest: boolean;
  /** False once a connection to this origin negotiated TLS 1.2: its next ones go straight to node:tls (tls-record.ts). */
  sealed?: boolean;
}

/**
 * The endpoint of `url`'s origin, with the test's TLS options (used for `https:` only). The CA,
 * certificate and key are parsed once into a secure context shared by every connection: given as
 * PEM to each `tls.connect`, node parsed them again for every connection, which cost more than
 * the handshake itself (measured: ~2.2 ms of CPU per new connection, docs/benchmarks.md).
 * Throws when a PEM does not parse (CreateTest refuses those first).
 */
export function endpointOf(url: URL, tls: TlsOptions | undefined, perRequest: boolean): Endpoint {
  const https = url.protocol === "https:";
  let options: TlsConnectOptions | undefined;
  if (https) {
    const { ca, cert, key, ...rest } = tlsConnectOptions(tls, url);
    options = { ...rest, secureContext: createSecureContext({ ca, cert, key }), ALPNProtocols: ["http/1.1"] };
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) || (https ? 443 : 80), tls: options, perRequest };
}

/**
 * The one buffer every socket dialled with a reader reads into: the reader is called synchronously
 * with each read's bytes and must copy what it keeps (the H1 parser does).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** net's `onread` option for `read`: reads into {@link READ_BUFFER}, with no 'data' event nor Buffer per read. */
const onreadOf = (read: (bytes: Buffer) => void) => ({
  buffer: READ_BUFFER,
  callback: (n: number, buf: Uint8Array): boolean => {
    read((buf as Buffer).subarray(0, n));
    return true;
  },
});

/**
 * Opens a socket to `e`; `ready` is called once it can carry requests (connected, or TLS
 * handshake done: then `handshake` gets its milliseconds from the TCP connection on). Errors
 * (a refused connection, a certificate that does not verify) destroy the socket with the error.
 * `read`, when given, gets what the socket reads instead of 'data' events (net's `onread`: one
 * buffer reused for every read, valid only during the call), which costs less CPU per read.
 */
export function dial(e: Endpoint, ready: () => void, handshake: ((ms: number) => void) | undefined, read?: (bytes: Buffer) => void): Socket {
  // Keep-alive https with a reader: records sealed and opened natively after node's handshake.
  if (e.tls !== undefined && read !== undefined && !e.perRequest && e.sealed !== false && nativeRecordLayer !== undefined) {
    return dialSealed(e as SealedEndpoint, ready, handshake, read);
  }
  const onread = read && onreadOf(read);
  if (e.tls === undefined) {
    const socket = connect({ host: e.host, port: e.port, noDelay: true, ...(onread && { onread }) });
    socket.once("connect", ready);
    return socket;
  }
  const socket = tlsConnect({ ...e.tls, host: e.host, port: e.port, ...(onread && { onread }) });
  socket.setNoDelay(true);
  let tcpMs = Number.NaN;
  socket.once("connect", () => (tcpMs = nowMs()));
  socket.once("secureConnect", () => {
    if (!Number.isNaN(tcpMs)) handshake?.(nowMs() - tcpMs);
    ready();
  });
  return socket;
}

/**
 * undici's `connect` option for `e`: {@link dial} instead of undici's own connector (which caches
 * TLS sessions and so would resume them: a handshake load does full handshakes, as wrk's do),
 * failing as `timeout` when not ready within `timeoutMs`.
 */
export function undiciConnector(e: Endpoint, timeoutMs: number, handshake: ((ms: number) => void) | undefined): buildConnector.connector {
  return (_options, callback) => {
    let done = false;
    const socket = dial(
      e,
      () => {
        clearTimeout(timer);
        if (done) return;
        done = true;
        socket.removeListener("error", failed);
        callback(null, socket);
      },
      handshake,
    );
    const failed = (err: Error & { code?: string }) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      // undici fails the requests queued on a connection whose name check failed only when their
      // servername is the one it connected with (its own per-request SNI), which ours never set:
      // they waited until the request timeout. As another verification failure, it fails them all.
      callback(err.code === "ERR_TLS_CERT_ALTNAME_INVALID" ? codeError(err.message, "HOSTNAME_MISMATCH") : err, null);
    };
    socket.once("error", failed);
    const timer = setTimeout(() => socket.destroy(codeError(`connect to ${e.host}:${e.port} timed out`, "UND_ERR_CONNECT_TIMEOUT")), timeoutMs);
  };
}

/** What a test says about its https connections, and where their handshakes are told. */
export interface TlsLink {
  tls: TlsOptions | undefined;
  /** A new connection for every request (protocol.proto TlsOptions.handshake_per_request). */
  perRequest: boolean;
  /** Told each TLS handshake's milliseconds (TCP connected → secureConnect). */
  handshake: ((ms: number) => void) | undefined;
}
