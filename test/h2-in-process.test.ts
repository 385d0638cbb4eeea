/**
 * HTTP/2 tests end to end over the in-process bus (the orchestrator, 2 drivers and the targets in
 * this process; test/protocols-kafka.test.ts runs HTTP/2 over a real broker with driver
 * processes): h2c and HTTP/2 over TLS (ALPN h2, a CA made in the test) against node:http2 servers
 * made here, whose own counts are the truth (requests, sessions: each driver's connections); an
 * HTTPS server offering only http/1.1, every request answered over HTTP/1.1; and an HTTP/1.1
 * server answering h2c, every request counted as h2_protocol while the test runs to its end.
 */
import { createServer as createH1Server, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { HttpVersion } from "../gen/kannon/v1/protocol_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { h2Target, type H2Target } from "./h2-target.js";
import { createTlsFixtures, type TlsFixtures } from "./tls-fixtures.js";
import { grpcClient, runToEnd, spec, type OrchestratorClient } from "./helpers.js";

const DRIVERS = 2;
const numbers = (m: { [k: string | number]: bigint }) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));

describe("HTTP/2 over the in-process bus", () => {
  let embedded: Embedded;
  let client: OrchestratorClient;
  let target: H2Target;
  let h1: Server;
  let h1Requests = 0;

  beforeAll(async () => {
    embedded = await startEmbedded({ drivers: DRIVERS });
    client = grpcClient(embedded.server.url);
    target = await h2Target((_req, res) => res.end("pong"));
    h1 = createH1Server((_req, res) => {
      h1Requests++;
      res.end("h1");
    });
    await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    await target?.close();
    await new Promise((r) => h1?.close(r));
    await embedded?.close();
  });

  it("h2c: exact totals against the server's count, each driver's connections × streams, every response h2", async () => {
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: new URL("/ping", target.url).href,
        reportIntervalMs: 250,
        http: { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 4, connections: 3 },
        workload: { case: "avalanche", value: { concurrency: 12, limit: { case: "requestsPerDriver", value: 500n } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    const total = report!.total!;
    expect(Number(total.requests)).toBe(DRIVERS * 500);
    expect(target.requests).toHaveLength(DRIVERS * 500);
    expect(numbers(total.statusCounts)).toEqual({ 200: DRIVERS * 500 });
    expect(numbers(total.errorCounts)).toEqual({});
    expect(numbers(total.protocolCounts)).toEqual({ h2: DRIVERS * 500 });
    // 3 connections per driver (the warm-up talks to its own server), 4 streams each at most.
    expect(target.sessions).toBe(DRIVERS * 3);
    expect(target.maxStreamsPerSession).toBe(4);
  });

  it("an HTTP/1.1 server answering h2c: every request is h2_protocol, and the test runs to its end", async () => {
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: `http://127.0.0.1:${(h1.address() as AddressInfo).port}/`,
        reportIntervalMs: 250,
        maxErrorRate: 1,
        http: { version: HttpVersion.HTTP_VERSION_2 },
        workload: { case: "avalanche", value: { concurrency: 5, limit: { case: "requestsPerDriver", value: 40n } } },
      }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    const total = report!.total!;
    expect(Number(total.requests)).toBe(DRIVERS * 40);
    expect(numbers(total.errorCounts)).toEqual({ h2_protocol: DRIVERS * 40 });
    expect(h1Requests).toBe(0);
  });

  describe("over TLS (a CA made in the test)", () => {
    let certs: TlsFixtures;
    let secure: H2Target;
    let h1Only: Server;
    let h1OnlyRequests = 0;
    beforeAll(async () => {
      certs = await createTlsFixtures();
      secure = await h2Target((_req, res) => res.end("pong"), { key: certs.server.key, cert: certs.server.cert });
      h1Only = createHttpsServer({ key: certs.server.key, cert: certs.server.cert, ALPNProtocols: ["http/1.1"] }, (_req, res) => {
        h1OnlyRequests++;
        res.end("one-one");
      });
      await new Promise<void>((r) => h1Only.listen(0, "127.0.0.1", r));
    });
    afterAll(async () => {
      await secure?.close();
      await new Promise((r) => h1Only?.close(r));
      await certs?.cleanup();
    });

    it("h2 by ALPN: exact totals against the server's count, each driver's connections × streams, a handshake per connection", async () => {
      const { id } = await runToEnd(
        client,
        spec({
          targetUrl: new URL("/ping", secure.url).href,
          reportIntervalMs: 250,
          http: { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 4, connections: 2, tls: { caPem: certs.ca.cert } },
          workload: { case: "avalanche", value: { concurrency: 8, limit: { case: "requestsPerDriver", value: 300n } } },
        }),
      );
      const { report } = await client.getReport({ testId: id });
      expect(report!.state, report!.message).toBe(TestState.COMPLETED);
      const total = report!.total!;
      expect(Number(total.requests)).toBe(DRIVERS * 300);
      expect(secure.requests).toHaveLength(DRIVERS * 300);
      expect(numbers(total.statusCounts)).toEqual({ 200: DRIVERS * 300 });
      expect(numbers(total.errorCounts)).toEqual({});
      expect(numbers(total.protocolCounts)).toEqual({ h2: DRIVERS * 300 });
      expect(secure.sessions).toBe(DRIVERS * 2);
      expect(secure.maxStreamsPerSession).toBe(4);
      expect(Number(total.handshake!.count)).toBe(DRIVERS * 2);
    });

    it("a server that picks http/1.1 by ALPN: every request answered over HTTP/1.1, totals equal to the server's count", async () => {
      const { id } = await runToEnd(
        client,
        spec({
          targetUrl: `https://127.0.0.1:${(h1Only.address() as AddressInfo).port}/`,
          reportIntervalMs: 250,
          http: { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 4, tls: { caPem: certs.ca.cert } },
          workload: { case: "avalanche", value: { concurrency: 6, limit: { case: "requestsPerDriver", value: 200n } } },
        }),
      );
      const { report } = await client.getReport({ testId: id });
      expect(report!.state, report!.message).toBe(TestState.COMPLETED);
      const total = report!.total!;
      expect(Number(total.requests)).toBe(DRIVERS * 200);
      expect(h1OnlyRequests).toBe(DRIVERS * 200);
      expect(numbers(total.statusCounts)).toEqual({ 200: DRIVERS * 200 });
      expect(numbers(total.errorCounts)).toEqual({});
      expect(numbers(total.protocolCounts)).toEqual({ "http/1.1": DRIVERS * 200 });
    });
  });
});
