/**
 * A node:http2 server made in a test, on 127.0.0.1: h2c (prior knowledge) or TLS with ALPN h2
 * (certificates from test/tls-fixtures.ts). It counts what it saw, as the HTTP/2 tests' ground
 * truth: requests, sessions (connections), and the most streams open at once on one session.
 */
import { createSecureServer, createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type SecureServerOptions } from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { HttpOptionsSchema, HttpVersion, TlsOptionsSchema } from "../gen/kannon/v1/protocol_pb.js";
import { connectionOptionsFrom, type ConnectionOptions } from "../driver/transport/connection-options.js";

/** HTTP/2 connection options: `streams` per connection, `connections` (0: derived), trusting `caPem` when given (https). */
export function http2Options(streams: number, connections = 0, caPem?: string): ConnectionOptions {
  return connectionOptionsFrom(
    create(HttpOptionsSchema, {
      version: HttpVersion.HTTP_VERSION_2,
      streamsPerConnection: streams,
      connections,
      ...(caPem ? { tls: create(TlsOptionsSchema, { caPem }) } : {}),
    }),
  );
}

/** What the server saw. */
export interface H2Target {
  url: URL;
  /** Requests received, in order. */
  requests: { method: string; path: string; headers: Record<string, string | string[] | undefined>; body: string }[];
  /** Sessions (connections) accepted. */
  sessions: number;
  /** Most streams in flight at once on one session. */
  maxStreamsPerSession: number;
  /** Stops the server, ending its sessions. */
  close(): Promise<void>;
}

/** The handler of one request: `body` is the whole request body, as text. */
export type H2Handler = (req: Http2ServerRequest, res: Http2ServerResponse, body: string) => unknown;

/** Starts an h2c server, or a TLS one with `tls` (key, cert, and ALPN `h2`). */
export async function h2Target(handle: H2Handler, tls?: SecureServerOptions): Promise<H2Target> {
  const server: Http2Server = tls ? createSecureServer({ ...tls, allowHTTP1: false }) : createServer();
  const t: H2Target = { url: new URL("http://127.0.0.1/"), requests: [], sessions: 0, maxStreamsPerSession: 0, close: () => Promise.resolve() };
  const open = new Map<Http2Session, number>();
  server.on("session", (session: Http2Session) => {
    t.sessions++;
    open.set(session, 0);
    session.on("close", () => open.delete(session));
  });
  server.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const session = req.stream.session!;
    const now = (open.get(session) ?? 0) + 1;
    open.set(session, now);
    t.maxStreamsPerSession = Math.max(t.maxStreamsPerSession, now);
    req.stream.on("close", () => open.set(session, (open.get(session) ?? 1) - 1));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      t.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      void handle(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.url = new URL(`${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  t.close = async () => {
    for (const s of open.keys()) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return t;
}
