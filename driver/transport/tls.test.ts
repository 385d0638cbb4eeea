/**
 * HTTP/1.1 over TLS on every path (the fast transport, the undici transport, both exchanges)
 * against node https servers on 127.0.0.1 with certificates made in the test (test/tls-fixtures.ts):
 * a verified CA, an unknown one (tls_verify per request, the run goes on), insecure, mutual TLS,
 * the servername, and a handshake per request, each against the server's own counts of requests
 * and TLS sessions.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { TlsOptionsSchema } from "../../gen/kannon/v1/protocol_pb.js";
import { useHttpsServers } from "../../test/https-server.js";
import type { TlsFixtures } from "../../test/tls-fixtures.js";
import type { ConnectionOptions } from "./connection-options.js";
import { createExchange } from "./exchange.js";
import { createTransport, TRANSPORT_KINDS, type Outcomes, type TransportKind } from "./transport.js";

/** The test's TLS options, as create() takes them. */
type TlsInit = MessageInitShape<typeof TlsOptionsSchema>;

const https = useHttpsServers();
const server = https.server;
let certs: TlsFixtures;
beforeAll(() => {
  certs = https.certs();
});

/** Counts of what a run recorded. */
interface Recorded {
  statuses: Record<number, number>;
  errors: Record<string, number>;
  bytes: number;
  handshakes: number[];
}

function http(tls: TlsInit): ConnectionOptions {
  const t = create(TlsOptionsSchema, tls);
  return { version: 1, streams: 100, connections: 0, tls: t, handshakePerRequest: t.handshakePerRequest };
}

/** Outcomes that count into a {@link Recorded}. */
function recording(): { r: Recorded; outcomes: Outcomes } {
  const r: Recorded = { statuses: {}, errors: {}, bytes: 0, handshakes: [] };
  const outcomes: Outcomes = {
    response: (status, bytes) => {
      r.statuses[status] = (r.statuses[status] ?? 0) + 1;
      r.bytes += bytes;
    },
    error: (k) => (r.errors[k] = (r.errors[k] ?? 0) + 1),
    handshake: (ms) => r.handshakes.push(ms),
  };
  return { r, outcomes };
}

/** `count` requests in closed loops of `concurrency` through the transport of `kind`. */
async function runTransport(kind: TransportKind, url: string, tls: TlsInit, count: number, concurrency = 2): Promise<Recorded> {
  const { r, outcomes } = recording();
  const t = createTransport({ url: new URL(url), method: "GET", headers: {}, body: undefined, timeoutMs: 5_000 }, outcomes, { kind, http: http(tls) });
  let left = count;
  await t.runClosed(concurrency, () => left-- > 0);
  await t.close(false);
  return r;
}

/** The open model: `count` requests fired 2 ms apart through the transport of `kind`, then drained. */
async function runOpen(kind: TransportKind, url: string, tls: TlsInit, count: number): Promise<Recorded> {
  const { r, outcomes } = recording();
  const t = createTransport({ url: new URL(url), method: "GET", headers: {}, body: undefined, timeoutMs: 5_000 }, outcomes, { kind, http: http(tls) });
  t.prepare(0, { ratePerS: 500, maxInFlight: 50 });
  for (let i = 0; i < count; i++) {
    t.fire(performance.timeOrigin + performance.now());
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  expect(await t.drain(performance.timeOrigin + performance.now() + 5_000)).toBe(true);
  await t.close(false);
  return r;
}

/** `count` requests, `concurrency` at a time, through the exchange of `kind`. */
async function runExchange(kind: TransportKind, url: string, tls: TlsInit, count: number, concurrency = 2): Promise<Recorded> {
  const r: Recorded = { statuses: {}, errors: {}, bytes: 0, handshakes: [] };
  const e = createExchange({ kind, timeoutMs: 5_000, connections: concurrency, http: http(tls), handshake: (ms) => r.handshakes.push(ms) });
  let left = count;
  const loop = async () => {
    while (left-- > 0) {
      const res = await e.send({ method: "GET", url: new URL(url), headers: {}, body: undefined }, { body: true, headers: false });
      if (res.ok) {
        r.statuses[res.status] = (r.statuses[res.status] ?? 0) + 1;
        r.bytes += res.bytes;
        expect(Buffer.from(res.body).toString()).toBe("hello");
      } else r.errors[res.kind] = (r.errors[res.kind] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  await e.close(false);
  return r;
}

const paths = TRANSPORT_KINDS.flatMap((kind) => [
  // The open model opens as many connections as its pool decides (at least 4 ahead on the fast path).
  { name: `${kind} transport, open model`, keepAlive: undefined, run: (url: string, tls: TlsInit, n: number) => runOpen(kind, url, tls, n) },
  { name: `${kind} transport`, keepAlive: 2, run: (url: string, tls: TlsInit, n: number, c?: number) => runTransport(kind, url, tls, n, c) },
  { name: `${kind} exchange`, keepAlive: 2, run: (url: string, tls: TlsInit, n: number, c?: number) => runExchange(kind, url, tls, n, c) },
]);

describe.each(paths)("HTTPS through the $name", ({ run, keepAlive }) => {
  it("verifies the target with the test's CA, reuses connections and times each handshake", async () => {
    const s = await server();
    const r = await run(s.url, { caPem: certs.ca.cert }, 40);
    expect(r.statuses).toEqual({ 200: 40 });
    expect(r.errors).toEqual({});
    expect(r.bytes).toBe(40 * 5);
    expect(s.requests).toBe(40);
    // Keep-alive: one TLS session per connection (2 for the closed loops), each timed.
    if (keepAlive !== undefined) expect(s.sessions).toBe(keepAlive);
    expect(s.sessions).toBeLessThan(40);
    expect(r.handshakes).toHaveLength(s.sessions);
    for (const ms of r.handshakes) expect(ms).toBeGreaterThan(0);
    // An IP address sends no SNI.
    expect(s.servernames).toEqual(Array(s.sessions).fill(false));
  });

  it("counts a certificate from an unknown CA as tls_verify on every request, and the run goes on", async () => {
    const s = await server();
    const r = await run(s.url, {}, 12);
    expect(r.errors).toEqual({ tls_verify: 12 });
    expect(r.statuses).toEqual({});
    expect(s.requests).toBe(0);
    expect(r.handshakes).toEqual([]);
  });

  it("with insecure, sends to a target whose certificate does not verify", async () => {
    const s = await server({ key: certs.untrusted.key, cert: certs.untrusted.cert });
    const r = await run(s.url, { insecure: true }, 10);
    expect(r.statuses).toEqual({ 200: 10 });
    expect(s.requests).toBe(10);
  });

  it("sends the servername as SNI and verifies the certificate against it", async () => {
    const s = await server();
    const ok = await run(s.url, { caPem: certs.ca.cert, servername: certs.sniName }, 6);
    expect(ok.statuses).toEqual({ 200: 6 });
    expect(new Set(s.servernames)).toEqual(new Set([certs.sniName]));
    const wrong = await run(s.url, { caPem: certs.ca.cert, servername: "not-in-the-cert.test" }, 4);
    expect(wrong.errors).toEqual({ tls_verify: 4 });
    expect(s.requests).toBe(6);
  });

  it("presents the client certificate to a target that requires one (mutual TLS), and fails as tls without it", async () => {
    const s = await server({ ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true });
    const withCert = await run(s.url, { caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key }, 8);
    expect(withCert.statuses).toEqual({ 200: 8 });
    expect(new Set(s.clientCerts)).toEqual(new Set(["kannon-client"]));
    expect(s.requests).toBe(8);
    const without = await run(s.url, { caPem: certs.ca.cert }, 6, 1);
    expect(without.statuses).toEqual({});
    // TLS 1.3: the client's handshake ends before the server reads its (missing) certificate; the
    // server's alert (tls) or, when its close overtakes the alert, the reset then ends the request.
    expect((without.errors.tls ?? 0) + (without.errors.reset ?? 0)).toBe(6);
    expect(s.requests).toBe(8);
  });

  it("with a handshake per request, opens one TLS connection per request", async () => {
    const s = await server();
    const r = await run(s.url, { caPem: certs.ca.cert, handshakePerRequest: true }, 30, 3);
    expect(r.statuses).toEqual({ 200: 30 });
    expect(s.requests).toBe(30);
    expect(s.mostRequestsPerSession).toBe(1);
    if (keepAlive !== undefined) {
      expect(s.sessions).toBe(30);
      expect(r.handshakes).toHaveLength(30);
    } else {
      // The open model's pool may also open a connection ahead that no request is left to use (it
      // grows when the target answers slowly, as a loaded CI machine's did: 31 sessions).
      expect(s.sessions).toBeGreaterThanOrEqual(30);
      expect(s.sessions).toBeLessThan(40);
      expect(r.handshakes.length).toBeGreaterThanOrEqual(30);
    }
  });
});
