/**
 * Issue 23's "Done when" for HTTP/2 and TLS, over a real Kafka broker with two driver processes:
 * plain HTTP requests against the project's target (h2c at its one port; HTTPS with a CA made in
 * the test and mutual TLS) and against nginx's h2c listener. The ground truth is each server's own
 * request count (the target's GET /metrics, nginx's stub_status).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { HttpVersion, RpcProtocol, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { file_kannon_target_v1_target } from "../gen/kannon/target/v1/target_pb.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { startNginx, type NginxTarget } from "../bench/nginx.js";
import { ensureDebianPackage } from "../scripts/debian-package.js";
import { closedPort, runToEnd, spec } from "./helpers.js";
import { countsOf, numbers, resetCounts, startKafkaFleet, type ClientTls, type KafkaFleet } from "./kafka-processes.js";
import { createTlsFixtures, type TlsFixtures } from "./tls-fixtures.js";

const DRIVERS = 2;
type SpecInit = Omit<MessageInitShape<typeof TestSpecSchema>, "$typeName">;


describe("HTTP/2 and TLS over a real Kafka broker with driver processes", () => {
  const kafka = inject("kafkaBootstrap");
  let fleet: KafkaFleet;
  let certs: TlsFixtures;
  let plainUrl: string;
  /** The target over HTTPS (h2 and HTTP/1.1 by ALPN), asking for a client certificate its CA signed. */
  let tlsUrl: string;
  let clientTls: ClientTls;

  beforeAll(async () => {
    [fleet, certs] = await Promise.all([startKafkaFleet(kafka, `proto-${process.pid}-`, DRIVERS), createTlsFixtures()]);
    clientTls = { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key };
    [plainUrl, tlsUrl] = await Promise.all([
      fleet.target(),
      fleet.target(["--tls-cert", certs.server.certFile, "--tls-key", certs.server.keyFile, "--tls-client-ca", certs.ca.certFile]),
    ]);
  }, 120_000);
  afterAll(async () => {
    await fleet?.stop();
    await certs?.cleanup();
  });

  const closed = (concurrency: number, perDriver: number): NonNullable<SpecInit["workload"]> => ({
    case: "avalanche",
    value: { concurrency, limit: { case: "requestsPerDriver", value: BigInt(perDriver) } },
  });

  /** Runs a test on the whole fleet to its end; its report and totals. */
  async function run(init: SpecInit): Promise<{ report: Report; total: Stats }> {
    const { id } = await runToEnd(fleet.client, spec({ reportIntervalMs: 250, requestTimeoutMs: 5000, ...init }));
    const { report } = await fleet.client.getReport({ testId: id });
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    expect(report!.partial, report!.drivers.map((d) => d.message).join(" / ")).toBe(false);
    return { report: report!, total: report!.total! };
  }

  /** Runs a test against the project's target at `base` (reset first); the report and the target's count of `/ping`. */
  async function runAgainstTarget(base: string, init: SpecInit, tls?: ClientTls) {
    await resetCounts(base, tls);
    const result = await run({ targetUrl: `${base}/ping`, ...init });
    const counts = await countsOf(base, tls);
    return { ...result, served: counts.requests, byPath: counts.byPath, rpc: counts.rpc };
  }

  it("h2c with prior knowledge against the target's one port: connections × streams, totals equal to the target's, protocol h2", async () => {
    const { total, served, byPath } = await runAgainstTarget(plainUrl, {
      http: { version: HttpVersion.HTTP_VERSION_2, connections: 2, streamsPerConnection: 4 },
      workload: closed(8, 300),
    });
    expect(served).toBe(300 * DRIVERS);
    expect(byPath).toEqual({ "/ping": 300 * DRIVERS });
    expect(total.requests).toBe(BigInt(300 * DRIVERS));
    expect(numbers(total.statusCounts)).toEqual({ 200: 300 * DRIVERS });
    expect(numbers(total.protocolCounts)).toEqual({ h2: 300 * DRIVERS });
    expect(total.errors).toBe(0n);
    expect(total.handshake?.count ?? 0n).toBe(0n);
  });

  describe.each([
    ["HTTP/1.1", HttpVersion.HTTP_VERSION_1_1, "http/1.1"],
    ["HTTP/2 (ALPN h2)", HttpVersion.HTTP_VERSION_2, "h2"],
  ] as const)("TLS with a CA made in the test and mutual TLS, %s", (_name, version, wire) => {
    const tlsOptions = () => ({ caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key });

    it("keep-alive: totals equal to the target's, every response under its protocol, a handshake per connection", async () => {
      const { total, served } = await runAgainstTarget(tlsUrl, { http: { version, tls: tlsOptions() }, workload: closed(4, 200) }, clientTls);
      expect(served).toBe(200 * DRIVERS);
      expect(total.requests).toBe(BigInt(200 * DRIVERS));
      expect(numbers(total.statusCounts)).toEqual({ 200: 200 * DRIVERS });
      expect(numbers(total.protocolCounts)).toEqual({ [wire]: 200 * DRIVERS });
      expect(total.errors).toBe(0n);
      // Connections are reused: at least one handshake per driver, far fewer than requests.
      const handshakes = Number(total.handshake?.count ?? 0n);
      expect(handshakes).toBeGreaterThanOrEqual(DRIVERS);
      expect(handshakes).toBeLessThanOrEqual(4 * DRIVERS * 3);
    });

  });

  // HTTP/1.1 only: CreateTest refuses a handshake per request with HTTP/2 (orchestrator/validate-http.ts).
  it("a TLS handshake per request (HTTP/1.1, mutual TLS): one handshake for every request", async () => {
    const { total, served } = await runAgainstTarget(
      tlsUrl,
      { http: { tls: { caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key, handshakePerRequest: true } }, workload: closed(2, 40) },
      clientTls,
    );
    expect(served).toBe(40 * DRIVERS);
    expect(numbers(total.protocolCounts)).toEqual({ "http/1.1": 40 * DRIVERS });
    expect(total.errors).toBe(0n);
    expect(Number(total.handshake!.count)).toBe(40 * DRIVERS);
  });

  it("a target certificate that does not verify: each request counted as tls_verify, nothing reaches the target, the run goes on", async () => {
    const { total, served } = await runAgainstTarget(tlsUrl, { http: { tls: { certPem: certs.client.cert, keyPem: certs.client.key } }, workload: closed(2, 25) }, clientTls);
    expect(served).toBe(0);
    expect(total.requests).toBe(BigInt(25 * DRIVERS));
    expect(numbers(total.errorCounts)).toEqual({ tls_verify: 25 * DRIVERS });
  });

  /** A client with the CA but no certificate, against the target that asks for one: each request refused at once, none served. */
  const withoutClientCertificate = async (version: HttpVersion) => {
    const { total, served } = await runAgainstTarget(tlsUrl, { requestTimeoutMs: 1500, http: { version, tls: { caPem: certs.ca.cert } }, workload: closed(1, 10) }, clientTls);
    expect(served).toBe(0);
    expect(total.requests).toBe(BigInt(10 * DRIVERS));
    expect(total.errors).toBe(BigInt(10 * DRIVERS));
    // Refused, not waited out: TLS 1.3 tells the client after its side of the handshake ended, and
    // the refusal closes the connection (`reset` on HTTP/1.1; `tls` on HTTP/2, the alert read before any stream opened).
    expect(Object.keys(total.errorCounts)).not.toContain("timeout");
  };
  it("mutual TLS without a client certificate (HTTP/1.1): every request refused and counted, the run goes on", () => withoutClientCertificate(HttpVersion.HTTP_VERSION_1_1));
  it("mutual TLS without a client certificate (HTTP/2): every request refused and counted, the run goes on", () => withoutClientCertificate(HttpVersion.HTTP_VERSION_2));

  it("gRPC over TLS (h2 by ALPN) with mutual TLS: Echo calls equal to the target's count", async () => {
    const image = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_kannon_target_v1_target.proto] }));
    const { total, rpc } = await runAgainstTarget(
      tlsUrl,
      {
        targetUrl: `${tlsUrl}/`,
        http: { version: HttpVersion.HTTP_VERSION_2, tls: { caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key } },
        rpc: { service: "kannon.target.v1.TargetService", method: "Echo", requestJson: '{"text": "over tls"}', protocol: RpcProtocol.GRPC },
        rpcSchema: { source: RpcSchemaSource.IMAGE, image, origin: "gen/kannon/target/v1" },
        workload: closed(4, 50),
      },
      clientTls,
    );
    expect(rpc).toEqual({ "kannon.target.v1.TargetService/Echo": { ok: 50 * DRIVERS } });
    expect(numbers(total.codeCounts)).toEqual({ ok: 50 * DRIVERS });
    expect(numbers(total.protocolCounts)).toEqual({ h2: 50 * DRIVERS });
  });

  describe("nginx with an h2c (http2) listener", () => {
    let nginx: NginxTarget;
    let h2cUrl: string;
    beforeAll(async () => {
      // Debian's nginx-light (as the bench uses), installed once with apt-get when missing: never a silent skip.
      await ensureDebianPackage({ name: "nginx-light", file: "/usr/sbin/nginx", executable: true, about: "about 30 s" }, (m) => process.stderr.write(`${m}\n`));
      const port = await closedPort();
      // A second listener of the same server, HTTP/2 with prior knowledge; stub_status is read over the first.
      nginx = await startNginx(`    listen 127.0.0.1:${port} http2;\n`);
      h2cUrl = `http://127.0.0.1:${port}`;
    });
    afterAll(() => nginx?.stop());

    it("h2c: totals equal to nginx's own count, every response h2", async () => {
      await nginx.reset();
      const { total } = await run({
        targetUrl: `${h2cUrl}/ping`,
        http: { version: HttpVersion.HTTP_VERSION_2, connections: 1, streamsPerConnection: 8 },
        workload: closed(8, 500),
      });
      expect((await nginx.counts()).requests).toBe(500 * DRIVERS);
      expect(total.requests).toBe(BigInt(500 * DRIVERS));
      expect(numbers(total.statusCounts)).toEqual({ 200: 500 * DRIVERS });
      expect(numbers(total.protocolCounts)).toEqual({ h2: 500 * DRIVERS });
    });

    it("an h2c request to nginx's HTTP/1.1 listener: each counted as h2_protocol, the run goes on", async () => {
      const { total } = await run({ targetUrl: `${nginx.url}/ping`, http: { version: HttpVersion.HTTP_VERSION_2 }, workload: closed(2, 20) });
      expect(total.requests).toBe(BigInt(20 * DRIVERS));
      expect(numbers(total.errorCounts)).toEqual({ h2_protocol: 20 * DRIVERS });
    });
  });
});
