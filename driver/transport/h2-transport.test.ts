/**
 * The HTTP/2 transports (h2-transport.ts: the fast path, h2-fast.ts and h2-connection.ts, for h2c
 * and TLS) against node:http2 servers made here, whose own counts are the truth: exact totals,
 * connections × streams honoured (the server counts its sessions and the streams open at once on
 * one), bodies, the open model, an HTTP/1.1 server answering h2c (`h2_protocol` per request, the
 * run goes on), timeouts; over TLS: h2 by ALPN with handshakes timed, a server that picks http/1.1
 * (every request answered over HTTP/1.1), a certificate that does not verify, mutual TLS.
 */
import { createServer as createH1Server, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { h2Target, http2Options, type H2Target } from "../../test/h2-target.js";
import { createTlsFixtures, type TlsFixtures } from "../../test/tls-fixtures.js";
import { IntervalRecorder } from "../load/recorder.js";
import { startNginx } from "../../bench/nginx.js";
import { ensureDebianPackage } from "../../scripts/debian-package.js";
import { closedPort } from "../../test/helpers.js";
import { create } from "@bufbuild/protobuf";
import { TlsOptionsSchema } from "../../gen/kannon/v1/protocol_pb.js";
import { decodeHistogram } from "../../metrics/histogram.js";
import type { ConnectionOptions } from "./connection-options.js";
import { dialTarget } from "./h2-dial.js";
import { H2FastTransport } from "./h2-fast.js";
import { requestFrames } from "./h2-frames.js";
import { h1Fallback } from "./h2-transport.js";
import { createTransport, type Transport } from "./transport.js";

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

async function target(...args: Parameters<typeof h2Target>): Promise<H2Target> {
  const t = await h2Target(...args);
  cleanups.push(() => t.close());
  return t;
}

function transport(url: URL, http: ConnectionOptions, recorder: IntervalRecorder, o: { method?: string; body?: string; timeoutMs?: number } = {}): Transport {
  const t = createTransport(
    { url, method: o.method ?? "GET", headers: { "x-test": "1" }, body: o.body === undefined ? undefined : new TextEncoder().encode(o.body), timeoutMs: o.timeoutMs ?? 3000 },
    recorder,
    { http },
  );
  cleanups.push(() => t.close(true));
  return t;
}

/** Runs `count` requests with `concurrency` closed loops; the interval's numbers. */
async function closed(t: Transport, recorder: IntervalRecorder, concurrency: number, count: number) {
  let issued = 0;
  const deadline = Date.now() + 10_000;
  await t.runClosed(concurrency, () => issued < count && Date.now() < deadline && (issued++, true));
  await t.drain(Date.now() + 3000);
  return recorder.take();
}

const counts = <K>(m: Map<K, number>) => Object.fromEntries(m);

describe("HTTP/2 transport, h2c fast path", () => {
  it("sends exactly the requests asked, over `connections` connections of `streams` streams", async () => {
    const server = await target((_req, res) => setTimeout(() => res.end("pong"), 2));
    const recorder = new IntervalRecorder(false);
    const t = transport(new URL("/ping?x=1", server.url), http2(8, 3), recorder);
    const s = await closed(t, recorder, 24, 2000);
    expect(server.requests).toHaveLength(2000);
    expect(s.requests).toBe(2000);
    expect(counts(s.statusCounts)).toEqual({ 200: 2000 });
    expect(counts(s.errorCounts)).toEqual({});
    expect(counts(s.protocolCounts)).toEqual({ h2: 2000 });
    expect(s.bytesReceived).toBe(2000 * 4);
    expect(server.sessions).toBe(3);
    expect(server.maxStreamsPerSession).toBe(8);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/ping?x=1" });
    expect(server.requests[0]!.headers["x-test"]).toBe("1");
    expect(server.requests[0]!.headers[":authority"]).toBe(server.url.host);
  });

  it("derives the connections from the concurrency and streams; sends bodies; reads statuses the server indexes", async () => {
    const server = await target((_req, res, body) => {
      res.writeHead(body.length === 5 ? 201 : 500, { "x-seen": body });
      res.end(body);
    });
    const recorder = new IntervalRecorder(false);
    const t = transport(server.url, http2(4), recorder, { method: "POST", body: "héllo".slice(0, 5) });
    const s = await closed(t, recorder, 10, 300);
    expect(server.sessions).toBe(3);
    expect(server.requests).toHaveLength(300);
    expect(server.requests.every((r) => r.method === "POST" && r.body === "héllo")).toBe(true);
    expect(counts(s.statusCounts)).toEqual({ 201: 300 });
    expect(s.bytesReceived).toBe(300 * Buffer.byteLength("héllo"));
  });

  it("the open model: each fired request answered, over the connections opened ahead", async () => {
    const server = await target((_req, res) => res.end("ok"));
    const recorder = new IntervalRecorder(true);
    const t = transport(server.url, http2(10, 2), recorder);
    t.prepare(0, { ratePerS: 1000, maxInFlight: 100 });
    for (let i = 0; i < 250; i++) {
      t.fire(Date.now());
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await t.drain(Date.now() + 5000)).toBe(true);
    const s = recorder.take();
    expect(server.requests).toHaveLength(250);
    expect(counts(s.statusCounts)).toEqual({ 200: 250 });
    expect(counts(s.protocolCounts)).toEqual({ h2: 250 });
    expect(server.sessions).toBe(2);
  });

  it("an HTTP/1.1 server answering h2c: every request is h2_protocol and the run goes on", async () => {
    let h1 = 0;
    const server = createH1Server((_req, res) => {
      h1++;
      res.end("h1");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const recorder = new IntervalRecorder(false);
    const t = transport(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), http2(10), recorder);
    const s = await closed(t, recorder, 5, 50);
    expect(s.requests).toBe(50);
    expect(counts(s.errorCounts)).toEqual({ h2_protocol: 50 });
    expect(h1).toBe(0);
  });

  it("a request not answered in time fails as timeout; a refused connection as connect_refused", async () => {
    const server = await target(() => undefined);
    const recorder = new IntervalRecorder(false);
    const s = await closed(transport(server.url, http2(10), recorder, { timeoutMs: 300 }), recorder, 2, 4);
    expect(counts(s.errorCounts)).toEqual({ timeout: 4 });
    const port = Number(server.url.port);
    await server.close();
    const r2 = new IntervalRecorder(false);
    const refused = await closed(transport(new URL(`http://127.0.0.1:${port}/`), http2(10), r2), r2, 2, 6);
    expect(counts(refused.errorCounts)).toEqual({ connect_refused: 6 });
  });
});

describe("HTTP/2 transport against nginx's h2c listener", () => {
  it("exact totals against nginx's stub_status, over `connections` connections, the open model too", async () => {
    await ensureDebianPackage({ name: "nginx-light", file: "/usr/sbin/nginx", executable: true, about: "about 30 s" }, (m) => process.stderr.write(`${m}\n`));
    const port = await closedPort();
    const nginx = await startNginx(`    listen 127.0.0.1:${port} http2;\n`);
    cleanups.push(() => nginx.stop());
    const url = new URL(`http://127.0.0.1:${port}/ping`);
    await nginx.reset();
    const recorder = new IntervalRecorder(false);
    const s = await closed(transport(url, http2(16, 3), recorder), recorder, 48, 3000);
    // nginx.counts() takes one accepted connection off for its own status read, which undici's fetch may have kept alive from the reset: ±1.
    const seen = await nginx.counts();
    expect(seen.requests).toBe(3000);
    expect(seen.connections).toBeGreaterThanOrEqual(2);
    expect(seen.connections).toBeLessThanOrEqual(3);
    expect(counts(s.statusCounts)).toEqual({ 200: 3000 });
    expect(counts(s.protocolCounts)).toEqual({ h2: 3000 });
    expect(s.bytesReceived).toBe(3000 * "pong\n".length);
    await nginx.reset();
    const open = new IntervalRecorder(true);
    const t = transport(url, http2(10, 2), open);
    t.prepare(0, { ratePerS: 1000, maxInFlight: 100 });
    for (let i = 0; i < 300; i++) {
      t.fire(Date.now());
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await t.drain(Date.now() + 5000)).toBe(true);
    const seenOpen = await nginx.counts();
    expect(seenOpen.requests).toBe(300);
    expect(seenOpen.connections).toBeGreaterThanOrEqual(1);
    expect(seenOpen.connections).toBeLessThanOrEqual(2);
    expect(counts(open.take().statusCounts)).toEqual({ 200: 300 });
  });
});

describe("HTTP/2 transport over TLS (the fast path, ALPN)", () => {
  /** An HTTPS server that offers only http/1.1 by ALPN, counting its requests and connections. */
  async function h1OnlyServer(handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end("one-one")) {
    const seen = { requests: 0, connections: 0, url: new URL("https://127.0.0.1/") };
    const server = createHttpsServer({ key: fixtures.server.key, cert: fixtures.server.cert, ALPNProtocols: ["http/1.1"] }, (req, res) => {
      seen.requests++;
      handle(req, res);
    });
    server.on("connection", () => seen.connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    seen.url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return seen;
  }
  const handshakes = (s: { handshakeHistogram: Uint8Array }) => decodeHistogram(s.handshakeHistogram).totalCount;

  it("negotiates h2 by ALPN on the fast path: exact totals, every response h2, one handshake per connection", async () => {
    const server = await target((_req, res) => res.end("secure"), { key: fixtures.server.key, cert: fixtures.server.cert });
    const recorder = new IntervalRecorder(false);
    const t = transport(server.url, http2(5, 2, true), recorder);
    expect(t).toBeInstanceOf(H2FastTransport);
    const s = await closed(t, recorder, 10, 200);
    expect(server.requests).toHaveLength(200);
    expect(s.requests).toBe(200);
    expect(counts(s.statusCounts)).toEqual({ 200: 200 });
    expect(counts(s.errorCounts)).toEqual({});
    expect(counts(s.protocolCounts)).toEqual({ h2: 200 });
    expect(s.bytesReceived).toBe(200 * "secure".length);
    expect(server.sessions).toBe(2);
    expect(server.maxStreamsPerSession).toBe(5);
    expect(handshakes(s)).toBe(2);
  });

  it("a server that picks http/1.1: every request answered over HTTP/1.1, those waiting for the first connection too (closed model)", async () => {
    const server = await h1OnlyServer();
    const recorder = new IntervalRecorder(false);
    const t = transport(server.url, http2(4, 0, true), recorder);
    expect(t).toBeInstanceOf(H2FastTransport);
    // The 8 loops' first requests wait for the connections dialed ahead, which find http/1.1.
    const s = await closed(t, recorder, 8, 300);
    expect(server.requests).toBe(300);
    expect(s.requests).toBe(300);
    expect(counts(s.statusCounts)).toEqual({ 200: 300 });
    expect(counts(s.errorCounts)).toEqual({});
    expect(counts(s.protocolCounts)).toEqual({ "http/1.1": 300 });
    expect(s.bytesReceived).toBe(300 * "one-one".length);
    // A handshake per connection: the 2 HTTP/2 dials (of 4 streams each) that found http/1.1, then at most one HTTP/1.1 connection per loop.
    expect(handshakes(s)).toBe(server.connections);
    expect(server.connections).toBeGreaterThanOrEqual(3);
    expect(server.connections).toBeLessThanOrEqual(2 + 8);
  });

  it("a server that picks http/1.1: the open model's requests, fired before the fallback is known, all answered over HTTP/1.1", async () => {
    const server = await h1OnlyServer();
    const recorder = new IntervalRecorder(true);
    const t = transport(server.url, http2(10, 2, true), recorder);
    t.prepare(0, { ratePerS: 1000, maxInFlight: 100 });
    // Fired in the same turn as the dial ahead: they wait for a stream on a connection still dialing.
    for (let i = 0; i < 60; i++) t.fire(Date.now());
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 40; i++) t.fire(Date.now());
    expect(await t.drain(Date.now() + 5000)).toBe(true);
    const s = recorder.take();
    expect(server.requests).toBe(100);
    expect(counts(s.statusCounts)).toEqual({ 200: 100 });
    expect(counts(s.errorCounts)).toEqual({});
    expect(counts(s.protocolCounts)).toEqual({ "http/1.1": 100 });
  });

  it("a unary gRPC call whose server picks http/1.1: each call answered over HTTP/1.1, its code from the grpc-status header", async () => {
    const server = await h1OnlyServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "5" });
      res.end();
    });
    const recorder = new IntervalRecorder(false);
    const url = new URL("/svc.S/M", server.url);
    const body = new Uint8Array(5);
    const headers = { "content-type": "application/grpc", te: "trailers" };
    const http = http2(4, 1, true);
    const t = new H2FastTransport({ url, method: "POST", headers, body, timeoutMs: 3000 }, requestFrames("POST", url, headers, body)!, dialTarget(url, http), recorder, http, true, h1Fallback(url, "fast", 3000, http, undefined));
    cleanups.push(() => t.close(true));
    const s = await closed(t, recorder, 3, 30);
    expect(server.requests).toBe(30);
    expect(counts(s.codeCounts)).toEqual({ not_found: 30 });
    expect(counts(s.protocolCounts)).toEqual({ "http/1.1": 30 });
  });

  it("a certificate that does not verify: each request fails as tls_verify, none reaches the server", async () => {
    const server = await target((_req, res) => res.end("x"), { key: fixtures.untrusted.key, cert: fixtures.untrusted.cert });
    const recorder = new IntervalRecorder(false);
    const t = transport(server.url, http2(10, 0, true), recorder);
    expect(t).toBeInstanceOf(H2FastTransport);
    const s = await closed(t, recorder, 2, 10);
    expect(counts(s.errorCounts)).toEqual({ tls_verify: 10 });
    expect(server.requests).toHaveLength(0);
  });

  it("mutual TLS: with the client certificate every request is answered; without it each fails at once as tls", async () => {
    const server = await target((_req, res) => res.end("m"), { key: fixtures.server.key, cert: fixtures.server.cert, ca: fixtures.ca.cert, requestCert: true, rejectUnauthorized: true });
    const withCert: ConnectionOptions = { ...http2(4, 1, true), tls: create(TlsOptionsSchema, { caPem: fixtures.ca.cert, certPem: fixtures.client.cert, keyPem: fixtures.client.key }) };
    const r1 = new IntervalRecorder(false);
    const t1 = transport(server.url, withCert, r1);
    expect(t1).toBeInstanceOf(H2FastTransport);
    const s1 = await closed(t1, r1, 4, 100);
    expect(counts(s1.statusCounts)).toEqual({ 200: 100 });
    expect(counts(s1.protocolCounts)).toEqual({ h2: 100 });
    expect(server.requests).toHaveLength(100);
    const r2 = new IntervalRecorder(false);
    const started = Date.now();
    const s2 = await closed(transport(server.url, http2(4, 1, true), r2, { timeoutMs: 3000 }), r2, 1, 3);
    expect(counts(s2.errorCounts)).toEqual({ tls: 3 });
    // Refused, not waited out (3 s each).
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.requests).toHaveLength(100);
  });
});
