/**
 * For the tests of the fast path's https connections end to end through driver/transport/dial.ts
 * (tls-record.test.ts, tls-record-12.test.ts): node https servers on 127.0.0.1 that answer
 * `/bytes/N` with N bytes of a known pattern (`/renegotiate`: an empty answer, then a TLS 1.2
 * renegotiation) and say which TLS version and suite each connection
 * negotiated, connections made with `dial` and a reader whose responses are parsed, and the proxy
 * of tls13-records.ts; everything closed after each test.
 */
import { createServer, type Server, type ServerOptions } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { TlsOptionsSchema } from "../gen/kannon/v1/protocol_pb.js";
import { dial, endpointOf, type Endpoint } from "../driver/transport/dial.js";
import { H1ResponseParser } from "../driver/transport/h1-parser.js";
import { createTlsFixtures, type TlsFixtures } from "./tls-fixtures.js";
import { startMitm, type Mitm } from "./tls13-records.js";

/** The test's TLS options, as create() takes them. */
export type TlsInit = MessageInitShape<typeof TlsOptionsSchema>;

/** `n` bytes of a pattern that depends on `n`: a body in the wrong place or order does not match. */
export const body = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff));

/** Sizes that cross record boundaries (16 KiB) and the 64 KiB read buffer. */
export const SIZES = [0, 1, 100, 16_383, 16_384, 16_385, 40_000, 70_000, 200_000, 5];

/**
 * `/bytes/N` for each of {@link SIZES} on `c`, one after the other, then the first five pipelined
 * (written in a row, their answers read back in order), each body checked: SIZES.length + 5 requests.
 */
export async function getSizes(c: Conn): Promise<void> {
  for (const n of SIZES) {
    c.get(`/bytes/${n}`);
    const res = await c.next();
    expect(res.status).toBe(200);
    expect(res.body.equals(body(n))).toBe(true);
  }
  for (const n of SIZES.slice(0, 5)) c.get(`/bytes/${n}`);
  for (const n of SIZES.slice(0, 5)) expect((await c.next()).body.equals(body(n))).toBe(true);
}

/** An https server and what it saw. */
export interface Target {
  server: Server;
  port: number;
  sessions: number;
  requests: number;
  clientCerts: string[];
  /** Each connection's version and suite (OpenSSL's name), as `TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256`. */
  negotiated: string[];
}

/** A keep-alive connection through `dial` with a reader, its responses parsed. */
export interface Conn {
  socket: Socket;
  endpoint: Endpoint;
  /** Resolves when `dial` says ready; rejects when the connection closes first. */
  ready: Promise<void>;
  handshakes: number[];
  /** Resolves at 'close' with the socket's error, if any. */
  closed: Promise<Error | undefined>;
  get(path: string): void;
  /** The next response (status, body), or rejects when the connection closes first. */
  next(): Promise<{ status: number; body: Buffer }>;
}

/**
 * For a test file: certificates made before its tests (test/tls-fixtures.ts); `target(extra)` an
 * https server (TLS 1.3 only unless `extra` says otherwise), `open(port, tls)` a connection,
 * `mitm(target)` a proxy to a TLS 1.3 target; each closed after the test.
 */
export function useTlsTargets() {
  let certs: TlsFixtures | undefined;
  beforeAll(async () => {
    certs = await createTlsFixtures();
  });
  afterAll(() => certs?.cleanup());
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function target(extra: ServerOptions = {}): Promise<Target> {
    const server = createServer({ key: certs!.server.key, cert: certs!.server.cert, minVersion: "TLSv1.3", ...extra }, (req, res) => {
      t.requests++;
      if (req.url === "/renegotiate") {
        // TLS 1.2: a HelloRequest after the (empty) answer, late enough not to share the client's read with it.
        const later = () => setTimeout(() => (req.socket as TLSSocket).renegotiate({}, () => undefined), 50);
        return res.writeHead(200, { "content-length": 0 }).end(later);
      }
      const n = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? "")?.[1] ?? -1);
      if (n < 0) return res.writeHead(404).end();
      res.writeHead(200, { "content-length": n }).end(body(n));
    });
    const t: Target = { server, port: 0, sessions: 0, requests: 0, clientCerts: [], negotiated: [] };
    server.on("secureConnection", (s: TLSSocket) => {
      t.sessions++;
      t.negotiated.push(`${s.getProtocol()} ${s.getCipher().name}`);
      const cn = s.getPeerCertificate()?.subject?.CN;
      if (cn) t.clientCerts.push(String(cn));
    });
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.port = (server.address() as { port: number }).port;
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    return t;
  }

  /** A connection to 127.0.0.1:`port` with `tls`, or over `endpoint` (another connection's) when given. */
  function open(port: number, tls: TlsInit, endpoint = endpointOf(new URL(`https://127.0.0.1:${port}/`), create(TlsOptionsSchema, tls), false)): Conn {
    const handshakes: number[] = [];
    const responses: { status: number; body: Buffer }[] = [];
    const waiting: (() => void)[] = [];
    let chunks: Buffer[] = [];
    const parser = new H1ResponseParser(
      {
        response: (status) => {
          responses.push({ status, body: Buffer.concat(chunks) });
          chunks = [];
          waiting.shift()?.();
          return true;
        },
        body: (buf, start, end) => chunks.push(Buffer.from(buf.subarray(start, end))),
      },
      false,
    );
    let onReady!: () => void;
    const readyP = new Promise<void>((r) => (onReady = r));
    const socket = dial(endpoint, onReady, (ms) => handshakes.push(ms), (bytes) => parser.feed(bytes));
    socket.on("error", () => undefined);
    const closed = new Promise<Error | undefined>((r) =>
      socket.on("close", () => {
        r((socket as Socket & { errored?: Error | null }).errored ?? undefined);
        for (const w of waiting.splice(0)) w();
      }),
    );
    cleanups.push(() => void socket.destroy());
    const ready = Promise.race([readyP, closed.then((err) => Promise.reject(err ?? new Error("closed before ready")))]);
    // A test that looks only at `closed` leaves this one alone.
    ready.catch(() => undefined);
    return {
      socket,
      endpoint,
      ready,
      handshakes,
      closed,
      get: (path) => socket.write(Buffer.from(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`)),
      next: async () => {
        if (responses.length === 0) await new Promise<void>((r) => waiting.push(r));
        const res = responses.shift();
        if (res === undefined) throw (await closed) ?? new Error("the connection closed with no response");
        return res;
      },
    };
  }

  async function mitm(t: Target): Promise<Mitm> {
    const m = await startMitm(t.server, t.port);
    cleanups.push(() => m.close());
    return m;
  }

  return { certs: () => certs!, target, open, mitm };
}
