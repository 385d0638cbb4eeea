/**
 * A node https server on 127.0.0.1 that answers every request with `hello` and counts what it saw
 * (requests, TLS sessions, their SNI names and client certificates): the truth the TLS tests
 * compare Kannon's totals with (driver/transport/tls.test.ts, test/tls-cli.test.ts).
 */
import { createServer, type Server, type ServerOptions } from "node:https";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createTlsFixtures, type KeyPair, type TlsFixtures } from "./tls-fixtures.js";

/** What a server saw, and its URL (`/hello`). */
export interface HttpsSeen {
  url: string;
  requests: number;
  sessions: number;
  /** The most requests one session (TLS connection) carried. */
  mostRequestsPerSession: number;
  /** Each session's SNI name (false: none sent). */
  servernames: (string | false)[];
  /** Each session's client certificate CN, when one was presented. */
  clientCerts: string[];
  close(): Promise<void>;
}

/** Starts a server with `pair` as its certificate and `extra` options (a client CA, requestCert, …). */
export async function startHttpsServer(pair: KeyPair, extra: ServerOptions = {}): Promise<HttpsSeen> {
  const perSession = new WeakMap<object, number>();
  const s: Server = createServer({ key: pair.key, cert: pair.cert, ...extra }, (req, res) => {
    seen.requests++;
    const onSession = (perSession.get(req.socket) ?? 0) + 1;
    perSession.set(req.socket, onSession);
    seen.mostRequestsPerSession = Math.max(seen.mostRequestsPerSession, onSession);
    res.end("hello");
  });
  const seen: HttpsSeen = {
    url: "",
    requests: 0,
    sessions: 0,
    mostRequestsPerSession: 0,
    servernames: [],
    clientCerts: [],
    close: async () => {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    },
  };
  s.on("secureConnection", (socket: TLSSocket) => {
    seen.sessions++;
    seen.servernames.push((socket as TLSSocket & { servername: string | false }).servername);
    const peer = socket.getPeerCertificate();
    if (peer?.subject) seen.clientCerts.push(String(peer.subject.CN));
  });
  s.on("tlsClientError", () => undefined);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  seen.url = `https://127.0.0.1:${(s.address() as { port: number }).port}/hello`;
  return seen;
}

/**
 * For a test file: certificates made before its tests (removed after them), and `server(extra)`
 * starting an https server with the fixtures' server certificate (or `extra`'s), closed after each test.
 */
export function useHttpsServers(): { certs: () => TlsFixtures; server: (extra?: ServerOptions) => Promise<HttpsSeen> } {
  let certs: TlsFixtures | undefined;
  const servers: HttpsSeen[] = [];
  beforeAll(async () => {
    certs = await createTlsFixtures();
  });
  afterAll(() => certs?.cleanup());
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  return {
    certs: () => certs!,
    server: async (extra = {}) => {
      const s = await startHttpsServer(certs!.server, extra);
      servers.push(s);
      return s;
    },
  };
}
