import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { createTlsFixtures, type TlsFixtures } from "../test/tls-fixtures.js";
import { validateSpec } from "./validate.js";

let certs: TlsFixtures;
beforeAll(async () => {
  certs = await createTlsFixtures();
});
afterAll(() => certs.cleanup());

type TlsInit = NonNullable<NonNullable<MessageInitShape<typeof TestSpecSchema>["http"]>["tls"]>;

function spec(tls: TlsInit, url = "https://127.0.0.1:8443/", pipelining = 0) {
  return create(TestSpecSchema, {
    targetUrl: url,
    http: { tls },
    workload: { case: "avalanche", value: { concurrency: 2, pipelining, limit: { case: "requestsPerDriver", value: 10n } } },
  });
}

describe("CreateTest's checks of http.tls", () => {
  it("takes a CA, a client certificate with its key, a servername, a handshake per request", () => {
    expect(validateSpec(spec({ caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key, servername: certs.sniName, handshakePerRequest: true }))).toEqual([]);
    expect(validateSpec(spec({ insecure: true }))).toEqual([]);
  });

  it("names every problem at once: a certificate without its key, a PEM that does not parse, a bad servername, insecure with a CA", () => {
    const problems = validateSpec(spec({ caPem: "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", certPem: certs.client.cert, servername: "bad name!", insecure: true }));
    expect(problems.map((p) => p.field).sort()).toEqual(["spec.http.tls.ca_pem", "spec.http.tls.ca_pem", "spec.http.tls.key_pem", "spec.http.tls.servername"]);
    expect(problems.find((p) => p.field === "spec.http.tls.key_pem")!.problem).toMatch(/is missing: a client certificate .* needs its private key/);
    expect(problems.some((p) => /certificate 1 of 1 does not parse/.test(p.problem))).toBe(true);
    expect(problems.some((p) => /is not used with insecure/.test(p.problem))).toBe(true);
    expect(problems.find((p) => p.field === "spec.http.tls.servername")!.problem).toMatch(/must be a DNS name/);
  });

  it("refuses a key without its certificate, a key that is not a key, and a key that does not go with the certificate", () => {
    expect(validateSpec(spec({ keyPem: certs.client.key }))).toEqual([{ field: "spec.http.tls.cert_pem", problem: expect.stringMatching(/is missing: a private key .* needs its client certificate/) }]);
    expect(validateSpec(spec({ certPem: certs.client.cert, keyPem: certs.client.cert }))).toEqual([{ field: "spec.http.tls.key_pem", problem: expect.stringMatching(/is not a PEM private key/) }]);
    expect(validateSpec(spec({ certPem: certs.client.cert, keyPem: certs.server.key }))).toEqual([{ field: "spec.http.tls.key_pem", problem: expect.stringMatching(/does not go with the client certificate/) }]);
    expect(validateSpec(spec({ caPem: "hello" }))).toEqual([{ field: "spec.http.tls.ca_pem", problem: expect.stringMatching(/is not a PEM certificate/) }]);
  });

  it("refuses TLS options on an http:// target, each option named", () => {
    const problems = validateSpec(spec({ caPem: certs.ca.cert, insecure: false, handshakePerRequest: true }, "http://127.0.0.1:8080/"));
    expect(problems.map((p) => p.field).sort()).toEqual(["spec.http.tls.ca_pem", "spec.http.tls.handshake_per_request"]);
    for (const p of problems) expect(p.problem).toMatch(/applies to https:\/\/ targets only, and the target is http:\/\/127\.0\.0\.1:8080\//);
  });

  it("refuses a handshake per request with pipelining", () => {
    expect(validateSpec(spec({ handshakePerRequest: true }, undefined, 4))).toEqual([{ field: "spec.avalanche.pipelining", problem: expect.stringMatching(/handshake_per_request/) }]);
  });
});
