/**
 * `kannon run` against https targets (node https servers on 127.0.0.1, certificates made in the
 * test): the TLS flags and the spec file's http.tls reach the drivers, the summary shows the
 * handshakes and an insecure run, a certificate that does not verify is counted per request, and
 * every total agrees with the server's own counts of requests and TLS sessions.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useHttpsServers } from "./https-server.js";
import { runKannon } from "./processes.js";
import type { TlsFixtures } from "./tls-fixtures.js";

const https = useHttpsServers();
const server = https.server;
let certs: TlsFixtures;
beforeAll(() => {
  certs = https.certs();
});

describe("kannon run against https targets", () => {
  it("--tls-ca verifies the target; the summary counts the TLS handshakes, as many as the server's sessions", async () => {
    const s = await server();
    const { code, out } = await runKannon(["run", "--url", s.url, "--tls-ca", certs.ca.certFile, "--requests", "50", "--drivers", "2", "--concurrency", "2"]);
    expect(code, out).toBe(0);
    expect(out).toContain("requests: 100 ");
    expect(out).toContain("errors: 0");
    expect(s.requests).toBe(100);
    expect(out).toContain(`TLS handshakes: ${s.sessions} `);
    expect(out).not.toContain("TLS verification off");
  });

  it("a certificate that does not verify fails every request as tls_verify, and the run completes; --insecure sends and says so", async () => {
    const s = await server({ key: certs.untrusted.key, cert: certs.untrusted.cert });
    const refused = await runKannon(["run", "--url", s.url, "--tls-ca", certs.ca.certFile, "--requests", "20", "--drivers", "1", "--concurrency", "2"]);
    expect(refused.out).toMatch(/COMPLETED, FAILING — every request failed \(tls_verify×20\)/);
    expect(s.requests).toBe(0);
    const insecure = await runKannon(["run", "--url", s.url, "--insecure", "--requests", "20", "--drivers", "1", "--concurrency", "2"]);
    expect(insecure.code, insecure.out).toBe(0);
    expect(insecure.out).toContain("requests: 20 ");
    expect(insecure.out).toContain("TLS verification off");
    expect(s.requests).toBe(20);
  });

  it("-f with http.tls files relative to the spec: mutual TLS, the servername, and a handshake per request (one server session per request)", async () => {
    const s = await server({ ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true });
    const file = join(certs.dir, "mtls.yaml");
    await writeFile(
      file,
      [
        `targetUrl: ${s.url}`,
        "driverCount: 2",
        "avalanche: {concurrency: 3, requestsPerDriver: 15}",
        "http:",
        "  tls:",
        "    ca: ca.pem",
        "    cert: client.pem",
        "    key: client.key",
        `    servername: ${certs.sniName}`,
        "    handshakePerRequest: true",
        "",
      ].join("\n"),
    );
    const { code, out } = await runKannon(["run", "-f", file]);
    expect(code, out).toBe(0);
    expect(out).toContain("requests: 30 ");
    expect(s.requests).toBe(30);
    expect(s.sessions).toBe(30);
    expect(out).toContain("TLS handshakes: 30 ");
    expect(new Set(s.clientCerts)).toEqual(new Set(["kannon-client"]));
  });
});
