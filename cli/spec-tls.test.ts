import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTlsFixtures, type TlsFixtures } from "../test/tls-fixtures.js";
import { usageMessage } from "../test/usage-message.js";
import { specFromFlags } from "./spec-args.js";
import { readSpecFile } from "./spec-file.js";

let certs: TlsFixtures;
beforeAll(async () => {
  certs = await createTlsFixtures();
});
afterAll(() => certs.cleanup());

const HTTPS = "https://127.0.0.1:8443/";

describe("TLS options from flags", () => {
  it("--tls-ca, --tls-cert, --tls-key read their files; --tls-servername, --insecure and --handshake-per-request set theirs", () => {
    const spec = specFromFlags({ url: HTTPS, "tls-ca": certs.ca.certFile, "tls-cert": certs.client.certFile, "tls-key": certs.client.keyFile, "tls-servername": certs.sniName, "handshake-per-request": true }, HTTPS);
    const tls = spec.http!.tls!;
    expect([tls.caPem, tls.certPem, tls.keyPem, tls.servername, tls.insecure, tls.handshakePerRequest]).toEqual([certs.ca.cert, certs.client.cert, certs.client.key, certs.sniName, false, true]);
    expect(specFromFlags({ url: HTTPS, insecure: true }, HTTPS).http!.tls!.insecure).toBe(true);
    expect(specFromFlags({ url: HTTPS }, HTTPS).http).toBeUndefined();
  });

  it("names every problem in the flags' words: an unreadable file, a certificate without its key, TLS flags on an http:// URL", () => {
    expect(usageMessage(() => specFromFlags({ url: HTTPS, "tls-ca": join(certs.dir, "missing.pem") }, HTTPS))).toMatch(/--tls-ca .*missing\.pem: cannot read it \(ENOENT\)/);
    const message = usageMessage(() => specFromFlags({ url: "http://127.0.0.1:8080/", "tls-cert": certs.client.certFile, "tls-servername": "x.test" }, HTTPS));
    expect(message).toMatch(/--tls-key is missing: a client certificate/);
    expect(message).toMatch(/--tls-cert applies to https:\/\/ targets only/);
    expect(message).toMatch(/--tls-servername applies to https:\/\/ targets only/);
  });
});

describe("the http.tls section of a spec file", () => {
  it("reads ca, cert and key as file paths relative to the spec file, beside the other TLS fields", async () => {
    const sub = join(certs.dir, "specs");
    await mkdir(sub, { recursive: true });
    const file = join(sub, "tls.yaml");
    await writeFile(
      file,
      `targetUrl: ${HTTPS}\navalanche: {concurrency: 2, requestsPerDriver: 10}\nhttp:\n  tls:\n    ca: ../ca.pem\n    cert: ../client.pem\n    key: ../client.key\n    servername: ${certs.sniName}\n    handshakePerRequest: true\n`,
    );
    const tls = readSpecFile(file).spec.http!.tls!;
    expect([tls.caPem, tls.certPem, tls.keyPem, tls.servername, tls.handshakePerRequest]).toEqual([certs.ca.cert, certs.client.cert, certs.client.key, certs.sniName, true]);
  });

  it("names every problem at once: a missing file, a path and its PEM both given, a key without its certificate", async () => {
    const file = join(certs.dir, "bad-tls.yaml");
    await writeFile(file, `targetUrl: ${HTTPS}\navalanche: {concurrency: 2, requestsPerDriver: 10}\nhttp:\n  tls:\n    ca: nope.pem\n    key: client.key\n    cert: client.pem\n    certPem: inline\n`);
    const message = usageMessage(() => readSpecFile(file));
    expect(message).toMatch(/spec\.http\.tls\.ca cannot read ".*nope\.pem" \(ENOENT\)/);
    expect(message).toMatch(/spec\.http\.tls\.cert and certPem are both given: keep one/);
    expect(message).toMatch(/spec\.http\.tls\.cert_pem .*is not a PEM certificate/);
  });
});
