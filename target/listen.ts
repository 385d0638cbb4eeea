import type http from "node:http";
import type http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { sniffH2c } from "../rpc/h2c-sniff.js";

/** The target's TLS: its key and certificate, and a client CA when clients must show a certificate. */
export interface TargetTls {
  /** The private key, PEM. */
  key: string | Buffer;
  /** The certificate (chain), PEM. */
  cert: string | Buffer;
  /**
   * CA certificate(s), PEM, that sign client certificates: when set, a client must show a
   * certificate they sign (mutual TLS) or the handshake fails.
   */
  clientCa?: string | Buffer | undefined;
}

/** A listener serving HTTP/1.1 and HTTP/2 at one port. */
export interface OnePort {
  /** The port it listens on. */
  port: number;
  /** Stops listening and destroys every connection, idle or not; resolves once closed. */
  close(): Promise<void>;
}

/** A cleartext connection that sends nothing for this long is closed (the HTTP/1.1 server's headers timeout). */
export const FIRST_BYTE_TIMEOUT_MS = 66_000;

// As http.Server sets them for the sockets it accepts: half-open (the client may end its side
// first and still get its answer), no Nagle, TCP keep-alive.
const SOCKET_OPTIONS = { allowHalfOpen: true, noDelay: true, keepAlive: true } as const;

/**
 * Listens on `host:port` and hands each connection to `h1` (an http.Server that never listens
 * itself) or to `h2` (an http2 server, the compatibility API): in cleartext by the first bytes
 * (the HTTP/2 preface: h2c with prior knowledge), over TLS by ALPN (`h2`, else HTTP/1.1).
 */
export async function listenOnePort(h1: http.Server, h2: http2.Http2Server, host: string, port: number, tlsOptions?: TargetTls): Promise<OnePort> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  let server: net.Server;
  if (tlsOptions === undefined) {
    server = net.createServer(SOCKET_OPTIONS, (socket) => {
      track(socket);
      // Until its first bytes the connection belongs to neither server, so neither's timeouts apply.
      socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
      sniffH2c(socket, h1, h2, () => socket.setTimeout(0));
    });
  } else {
    try {
      server = tls.createServer(
        {
          ...SOCKET_OPTIONS,
          key: tlsOptions.key,
          cert: tlsOptions.cert,
          ALPNProtocols: ["h2", "http/1.1"],
          ...(tlsOptions.clientCa !== undefined ? { ca: tlsOptions.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
        },
        (socket) => (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket),
      );
    } catch (err) {
      throw new Error(`target: TLS key, certificate or client CA not usable: ${(err as Error).message}`);
    }
    // The raw TCP sockets, so close() can end connections still in their handshake too.
    server.on("connection", track);
  }
  // h1 never listens (connections are handed to it), and Node checks its header and request
  // timeouts (and closeAllConnections finds them) only on connections tracked from 'listening' on.
  h1.emit("listening");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        h1.closeAllConnections();
        // Stops its connection checks (it never listened: the callback gets that error).
        h1.close(() => undefined);
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
