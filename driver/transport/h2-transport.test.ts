/**
 * The HTTP/2 transports (h2-transport.ts: the h2c fast path, h2-fast.ts and h2-connection.ts; TLS
 * through the exchange) against node:http2 servers made here, whose own counts are the truth:
 * exact totals, connections × streams honoured (the server counts its sessions and the streams open
 * at once on one), bodies, the open model, an HTTP/1.1 server answering h2c (`h2_protocol` per
 * request, the run goes on), timeouts, TLS by ALPN with handshakes timed.
 */
import { createServer as createH1Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { h2Target, http2Options, type H2Target } from "../../test/h2-target.js";
import { createTlsFixtures, type TlsFixtures } from "../../test/tls-fixtures.js";
import { IntervalRecorder } from "../load/recorder.js";
import { startNginx } from "../../bench/nginx.js";
import { ensureDebianPackage } from "../../scripts/debian-package.js";
import { closedPort } from "../../test/helpers.js";
import type { ConnectionOptions } from "./connection-options.js";
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

describe("HTTP/2 transport over TLS", () => {
  it("negotiates h2 by ALPN, counts every response as h2 and times each handshake", async () => {
    const server = await target((_req, res) => res.end("secure"), { key: fixtures.server.key, cert: fixtures.server.cert });
    const recorder = new IntervalRecorder(false);
    const t = transport(server.url, http2(5, 2, true), recorder);
    const s = await closed(t, recorder, 10, 200);
    expect(server.requests).toHaveLength(200);
    expect(counts(s.statusCounts)).toEqual({ 200: 200 });
    expect(counts(s.protocolCounts)).toEqual({ h2: 200 });
    expect(server.sessions).toBe(2);
    expect(s.handshakeHistogram.length).toBeGreaterThan(0);
  });
});
