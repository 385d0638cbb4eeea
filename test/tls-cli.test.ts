/**
 * `kannon run` against https targets (node https servers on 127.0.0.1, certificates made in the
 * test): the TLS flags and the spec file's http.tls reach the drivers, the summary shows the
 * handshakes and an insecure run, a certificate that does not verify is counted per request, and
 * every total agrees with the server's own counts of requests and TLS sessions.
 */
import { writeFile } from "node:fs/promises";
import { createServer, type Server, type ServerOptions } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runKannon } from "./processes.js";
import { createTlsFixtures, type TlsFixtures } from "./tls-fixtures.js";

let certs: TlsFixtures;
beforeAll(async () => {
  certs = await createTlsFixtures();
});
afterAll(() => certs.cleanup());

interface Seen {
  url: string;
  requests: number;
  sessions: number;
  clients: string[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function server(extra: ServerOptions = {}): Promise<Seen> {
  const seen: Seen = { url: "", requests: 0, sessions: 0, clients: [] };
  const s = createServer({ key: certs.server.key, cert: certs.server.cert, ...extra }, (_req, res) => {
    seen.requests++;
    res.end("ok");
  });
  s.on("secureConnection", (socket: TLSSocket) => {
    seen.sessions++;
    const peer = socket.getPeerCertificate();
    if (peer?.subject) seen.clients.push(String(peer.subject.CN));
  });
  s.on("tlsClientError", () => undefined);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  seen.url = `https://127.0.0.1:${(s.address() as { port: number }).port}/x`;
  return seen;
}

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
    expect(new Set(s.clients)).toEqual(new Set(["kannon-client"]));
  });
});
