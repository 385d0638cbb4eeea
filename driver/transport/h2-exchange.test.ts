/**
 * The HTTP/2 exchange (h2-exchange.ts) against node:http2 servers made here: h2c and TLS (a CA
 * made with openssl, test/tls-fixtures.ts), requests and responses whole (headers, body,
 * trailers, onBody chunks), connections × streams honoured (the server counts its sessions and
 * streams), an HTTP/1.1 server answering h2c as `h2_protocol` per request, a TLS server that picks
 * HTTP/1.1 by ALPN spoken to in HTTP/1.1.
 */
import { createServer as createH1Server } from "node:http";
import { constants, type Http2Session } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { h2Target, http2Options, type H2Target } from "../../test/h2-target.js";
import { createTlsFixtures, type TlsFixtures } from "../../test/tls-fixtures.js";
import type { ConnectionOptions } from "./connection-options.js";
import { createExchange, type Exchange, type ExchangeResult } from "./exchange.js";

let fixtures: TlsFixtures;
beforeAll(async () => {
  fixtures = await createTlsFixtures();
});
afterAll(() => fixtures.cleanup());

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const http2 = (streams: number, connections = 0, tls = false) => http2Options(streams, connections, tls ? fixtures.ca.cert : undefined);

function exchange(http: ConnectionOptions, connections: number, handshakes?: number[], timeoutMs = 5_000): Exchange {
  const e = createExchange({ timeoutMs, connections, http, ...(handshakes ? { handshake: (ms: number) => handshakes.push(ms) } : {}) });
  cleanups.push(() => e.close(true));
  return e;
}

async function target(...args: Parameters<typeof h2Target>): Promise<H2Target> {
  const t = await h2Target(...args);
  cleanups.push(() => t.close());
  return t;
}

function ok(r: ExchangeResult): Extract<ExchangeResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a response, got the error kind ${r.kind}`);
  return r;
}

const ALL = { body: true, headers: true };
const NONE = { body: false, headers: false };

describe("HTTP/2 exchange", () => {
  it("h2c: sends method, path, headers and body; returns status, headers, body, trailers and each chunk", async () => {
    const t = await target(async (req, res, body) => {
      res.setHeader("x-echo", `bytes=${Buffer.byteLength(body)}`);
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.writeHead(201, { "content-type": "text/plain" });
      // Trailers (as gRPC sends its status).
      res.addTrailers({ "grpc-status": "0", "x-end": "yes" });
      res.write(`got ${body};`);
      await new Promise((r) => setTimeout(r, 20));
      res.end("bye");
    });
    const e = exchange(http2(10), 4);
    const seen: string[] = [];
    const r = ok(
      await e.send(
        { method: "POST", url: new URL("/echo?x=1", t.url), headers: { "X-Token": "abc", Connection: "keep-alive", Host: "example.test" }, body: '{"u":"é"}', onBody: (c) => seen.push(Buffer.from(c).toString()) },
        ALL,
      ),
    );
    expect(r.protocol).toBe("h2");
    expect(r.status).toBe(201);
    expect(r.headers["x-echo"]).toBe("bytes=10");
    expect(r.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(r.headers[":status"]).toBeUndefined();
    expect(r.trailers).toEqual({ "grpc-status": "0", "x-end": "yes" });
    expect(Buffer.from(r.body).toString()).toBe('got {"u":"é"};bye');
    expect(r.bytes).toBe(Buffer.byteLength('got {"u":"é"};bye'));
    expect(seen.join("")).toBe('got {"u":"é"};bye');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(t.requests).toHaveLength(1);
    expect(t.requests[0]).toMatchObject({ method: "POST", path: "/echo?x=1", body: '{"u":"é"}' });
    expect(t.requests[0]!.headers["x-token"]).toBe("abc");
    // `host` became :authority; the connection header HTTP/2 forbids was left out.
    expect(t.requests[0]!.headers[":authority"]).toBe("example.test");
    expect(t.requests[0]!.headers["connection"]).toBeUndefined();
    const bare = ok(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE));
    expect(bare).toMatchObject({ status: 201, body: new Uint8Array(0), headers: {}, trailers: {}, protocol: "h2" });
    expect(t.sessions).toBe(1);
  });

  it("spreads many requests over at most `connections` sessions of at most `streams` streams", async () => {
    const t = await target(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 10));
      res.end("ok");
    });
    // 3 connections of 4 streams; 40 requests at once: 12 in flight, the rest wait.
    const e = exchange(http2(4, 3), 12);
    await e.prepare([t.url], 12);
    expect(t.sessions).toBe(3);
    const results = await Promise.all(Array.from({ length: 40 }, () => e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE)));
    expect(results.filter((r) => r.ok && r.status === 200)).toHaveLength(40);
    expect(t.requests).toHaveLength(40);
    expect(t.sessions).toBe(3);
    expect(t.maxStreamsPerSession).toBe(4);
  });

  it("derives the connections from the loops and streams when the test names none", async () => {
    const t = await target((_req, res) => setTimeout(() => res.end("ok"), 10));
    // 10 loops, 4 streams per connection: 3 connections.
    const e = exchange(http2(4), 10);
    const results = await Promise.all(Array.from({ length: 30 }, () => e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(t.sessions).toBe(3);
  });

  it("counts every request to an HTTP/1.1 server as h2_protocol, and goes on", async () => {
    let h1Requests = 0;
    const server = createH1Server((_req, res) => {
      h1Requests++;
      res.end("h1");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const e = exchange(http2(10), 2);
    const results: ExchangeResult[] = [];
    for (let i = 0; i < 5; i++) results.push(await e.send({ method: "GET", url, headers: {}, body: undefined }, NONE));
    expect(results.map((r) => (r.ok ? r.status : r.kind))).toEqual(Array(5).fill("h2_protocol"));
    expect(h1Requests).toBe(0);
  });

  it("fails a refused connection as connect_refused and a slow answer as timeout", async () => {
    const t = await target(() => undefined);
    const port = Number(t.url.port);
    await t.close();
    const e = exchange(http2(10), 2, undefined, 300);
    const refused = await e.send({ method: "GET", url: new URL(`http://127.0.0.1:${port}/`), headers: {}, body: undefined }, NONE);
    expect(refused).toMatchObject({ ok: false, kind: "connect_refused" });
    const slow = await target(() => undefined);
    const r = await e.send({ method: "GET", url: slow.url, headers: {}, body: undefined }, NONE);
    expect(r).toMatchObject({ ok: false, kind: "timeout" });
    expect(r.endMs - r.sentMs).toBeGreaterThanOrEqual(250);
  });

  it("a stream the server refused (REFUSED_STREAM) is sent again: every request answered once", async () => {
    let answered = 0;
    const t = await target((req, res) => {
      if (t.requests.length % 3 === 0) return req.stream.close(constants.NGHTTP2_REFUSED_STREAM);
      answered++;
      res.end("ok");
    });
    const e = exchange(http2(5, 1), 1);
    const results = await Promise.all(Array.from({ length: 30 }, () => e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE)));
    expect(results.map((r) => (r.ok ? r.status : r.kind))).toEqual(Array(30).fill(200));
    expect(answered).toBe(30);
    expect(t.requests.length).toBeGreaterThan(30);
  });

  it("a GOAWAY: the streams above its last id are sent again on a new connection, every request answered once", async () => {
    let answered = 0;
    let gone: { session: Http2Session; last: number } | undefined;
    const t = await target((req, res) => {
      const session = req.stream.session!;
      const id = req.stream.id!;
      // Streams above the GOAWAY's last id are left unprocessed, as the GOAWAY says.
      if (session === gone?.session && id > gone.last) return;
      answered++;
      res.end("ok");
      if (answered !== 10) return;
      gone = { session, last: id };
      session.goaway(constants.NGHTTP2_NO_ERROR, id);
      setTimeout(() => session.destroy(), 20);
    });
    const e = exchange(http2(8, 1), 1);
    const results = await Promise.all(Array.from({ length: 40 }, () => e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE)));
    expect(results.map((r) => (r.ok ? r.status : r.kind))).toEqual(Array(40).fill(200));
    expect(answered).toBe(40);
    expect(t.sessions).toBe(2);
  });

  it("TLS: negotiates h2 by ALPN with the test's CA, and times each handshake", async () => {
    const t = await target((_req, res) => res.end("secure"), { key: fixtures.server.key, cert: fixtures.server.cert });
    const handshakes: number[] = [];
    const e = exchange(http2(10, 0, true), 4, handshakes);
    for (let i = 0; i < 3; i++) {
      const r = ok(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL));
      expect(r).toMatchObject({ status: 200, protocol: "h2" });
      expect(Buffer.from(r.body).toString()).toBe("secure");
    }
    expect(t.sessions).toBe(1);
    expect(handshakes).toHaveLength(1);
    expect(handshakes[0]).toBeGreaterThan(0);
  });

  it("TLS: a certificate that does not verify fails as tls_verify", async () => {
    const t = await target((_req, res) => res.end("x"), { key: fixtures.untrusted.key, cert: fixtures.untrusted.cert });
    const e = exchange(http2(10, 0, true), 4);
    expect(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE)).toMatchObject({ ok: false, kind: "tls_verify" });
    expect(t.requests).toHaveLength(0);
  });

  it("TLS: a server refusing a client without a certificate (mutual TLS, TLS 1.3): each request fails at once as tls", async () => {
    const t = await target((_req, res) => res.end("x"), { key: fixtures.server.key, cert: fixtures.server.cert, ca: fixtures.ca.cert, requestCert: true, rejectUnauthorized: true });
    // The refusal arrives after the client's side of the handshake ended; the request must not wait out its 3 s timeout.
    const e = exchange(http2(10, 1, true), 1, undefined, 3000);
    for (let i = 0; i < 3; i++) {
      const r = await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE);
      expect(r).toMatchObject({ ok: false, kind: "tls" });
      expect(r.endMs - r.sentMs).toBeLessThan(1000);
    }
    expect(t.requests).toHaveLength(0);
  });

  it("TLS: a server that picks http/1.1 by ALPN is spoken to in HTTP/1.1", async () => {
    let h1Requests = 0;
    const server = createHttpsServer({ key: fixtures.server.key, cert: fixtures.server.cert, ALPNProtocols: ["http/1.1"] }, (_req, res) => {
      h1Requests++;
      res.end("one-one");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const e = exchange(http2(10, 0, true), 4);
    const results = await Promise.all(Array.from({ length: 3 }, () => e.send({ method: "GET", url, headers: {}, body: undefined }, ALL)));
    for (const r of results) expect(ok(r)).toMatchObject({ status: 200, protocol: "http/1.1" });
    expect(Buffer.from(ok(results[0]!).body).toString()).toBe("one-one");
    expect(h1Requests).toBe(3);
    // Several connections dialing at once: the requests queued on the others were not sent either, and go over HTTP/1.1 too.
    const several = exchange(http2(2, 0, true), 8);
    const all = await Promise.all(Array.from({ length: 8 }, () => several.send({ method: "GET", url, headers: {}, body: undefined }, NONE)));
    expect(all.map((r) => (r.ok ? r.protocol : r.kind))).toEqual(Array(8).fill("http/1.1"));
    expect(h1Requests).toBe(3 + 8);
  });
});
