/**
 * The target over TLS, with certificates made in the test (test/tls-fixtures.ts): h2 and HTTP/1.1
 * by ALPN at one port, the RPCs over both (connect-node's clients), mutual TLS refusing a client
 * without a certificate or with one the client CA did not sign, and the CLI's TLS flags.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { spawn } from "node:child_process";
import https from "node:https";
import http2 from "node:http2";
import tls from "node:tls";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { createTlsFixtures, type TlsFixtures } from "../test/tls-fixtures.js";
import { createTarget, parseTargetArgs, type Target } from "./target.js";

let certs: TlsFixtures;
beforeAll(async () => {
  certs = await createTlsFixtures();
});
afterAll(() => certs?.cleanup());

const ECHO = "kannon.target.v1.TargetService/Echo";

/** GET over HTTPS/1.1 (ALPN offers http/1.1 only); resolves the status, body and negotiated protocol. */
function get11(url: string, options: https.RequestOptions) {
  return new Promise<{ status: number; body: string; alpn: string | false | null }>((resolve, reject) => {
    const req = https.get(url, { ...options, ...{ ALPNProtocols: ["http/1.1"] }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol }));
    });
    req.on("error", reject);
  });
}

/** GET over h2 (ALPN h2); resolves the status, body and negotiated protocol. */
function get2(url: string, options: http2.SecureClientSessionOptions) {
  return new Promise<{ status: number; body: string; alpn: string | undefined }>((resolve, reject) => {
    const session = http2.connect(new URL(url).origin, options);
    session.on("error", reject);
    const req = session.request({ ":path": new URL(url).pathname });
    let status = 0;
    let body = "";
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      session.close();
      if (status === 0) reject(new Error(`the h2 stream ended without a response (${session.destroyed ? "session destroyed" : "session open"})`));
      else resolve({ status, body, alpn: session.alpnProtocol });
    });
    req.on("error", reject);
  });
}

describe("a TLS target", () => {
  let target: Target;
  beforeAll(async () => {
    target = await createTarget({ tls: { key: certs.server.key, cert: certs.server.cert } });
  });
  afterAll(() => target?.close());

  it("serves https://, HTTP/1.1 and h2 by ALPN at one port, and counts both", async () => {
    expect(target.url).toBe(`https://127.0.0.1:${target.port}`);
    target.reset();
    expect(await get11(`${target.url}/ping`, { ca: certs.ca.cert })).toEqual({ status: 200, body: "pong", alpn: "http/1.1" });
    expect(await get2(`${target.url}/ping`, { ca: certs.ca.cert })).toEqual({ status: 200, body: "pong", alpn: "h2" });
    // The certificate's other names verify too: SNI localhost and the fixture's own name.
    expect((await get2(`${target.url}/ping`, { ca: certs.ca.cert, servername: certs.sniName })).body).toBe("pong");
    expect((await get11(`https://localhost:${target.port}/ping`, { ca: certs.ca.cert })).body).toBe("pong");
    expect(target.counts()).toMatchObject({ requests: 4, byPath: { "/ping": 4 } });
  });

  it("answers every protocol's RPCs over h2 and HTTP/1.1", async () => {
    target.reset();
    const nodeOptions = { ca: certs.ca.cert };
    const transports = [
      createConnectTransport({ baseUrl: target.url, httpVersion: "1.1", nodeOptions }),
      createConnectTransport({ baseUrl: target.url, httpVersion: "2", nodeOptions }),
      createGrpcTransport({ baseUrl: target.url, nodeOptions }),
      createGrpcWebTransport({ baseUrl: target.url, httpVersion: "1.1", nodeOptions }),
      createGrpcWebTransport({ baseUrl: target.url, httpVersion: "2", nodeOptions }),
    ];
    for (const t of transports) {
      const c = createClient(TargetService, t);
      expect((await c.echo({ text: "tls" })).text).toBe("tls");
      const indexes: number[] = [];
      for await (const m of c.stream({ count: 3 })) indexes.push(m.index);
      expect(indexes).toEqual([0, 1, 2]);
    }
    expect(target.counts().rpc).toEqual({ [ECHO]: { ok: 5 }, "kannon.target.v1.TargetService/Stream": { ok: 5 } });
  });

  it("a client that does not trust the CA fails the handshake, and nothing is counted", async () => {
    target.reset();
    await expect(get11(`${target.url}/ping`, {})).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    const err = ConnectError.from(await createClient(TargetService, createGrpcTransport({ baseUrl: target.url })).echo({}).catch((e: unknown) => e));
    expect(err.code).not.toBe(Code.Unknown);
    expect(err.message).toMatch(/unable to verify the first certificate/);
    expect(target.counts().requests).toBe(0);
  });
});

describe("a mutual TLS target", () => {
  let target: Target;
  beforeAll(async () => {
    target = await createTarget({ tls: { key: certs.server.key, cert: certs.server.cert, clientCa: certs.ca.cert } });
  });
  afterAll(() => target?.close());

  it("answers a client whose certificate the client CA signed, over h2 and HTTP/1.1", async () => {
    target.reset();
    const mine = { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key };
    expect((await get11(`${target.url}/ping`, mine)).body).toBe("pong");
    expect((await get2(`${target.url}/ping`, mine)).body).toBe("pong");
    const c = createClient(TargetService, createGrpcTransport({ baseUrl: target.url, nodeOptions: mine }));
    expect(ConnectError.from(await c.fail({ code: "unavailable", every: 2 }).catch((e: unknown) => e)).code).toBe(Code.Unavailable);
    expect((await c.fail({ code: "unavailable", every: 2 })).call).toBe(2n);
    expect(target.counts()).toMatchObject({ requests: 4, rpc: { "kannon.target.v1.TargetService/Fail": { ok: 1, unavailable: 1 } } });
  }, 20_000);

  it("refuses a client without a certificate or with one from another CA", async () => {
    target.reset();
    for (const creds of [{}, { cert: certs.untrusted.cert, key: certs.untrusted.key }]) {
      await expect(get11(`${target.url}/ping`, { ca: certs.ca.cert, ...creds })).rejects.toThrow(/certificate|socket hang up|ECONNRESET/);
      await expect(get2(`${target.url}/ping`, { ca: certs.ca.cert, ...creds })).rejects.toThrow();
      const c = createClient(TargetService, createGrpcTransport({ baseUrl: target.url, nodeOptions: { ca: certs.ca.cert, ...creds } }));
      await expect(c.echo({})).rejects.toBeInstanceOf(ConnectError);
    }
    expect(target.counts()).toMatchObject({ requests: 0, rpc: {} });
  }, 20_000);
});

describe("TLS options", () => {
  it("the CLI's --tls-cert, --tls-key and --tls-client-ca read PEM files", () => {
    const options = parseTargetArgs(["--tls-cert", certs.server.certFile, `--tls-key=${certs.server.keyFile}`, "--tls-client-ca", certs.ca.certFile, "--port", "0"]);
    expect(options).toEqual({ port: 0, tls: { cert: certs.server.cert, key: certs.server.key, clientCa: certs.ca.cert } });
  });

  it("bad TLS flags name the problem", async () => {
    expect(() => parseTargetArgs(["--tls-cert", certs.server.certFile])).toThrow("--tls-cert needs --tls-key");
    expect(() => parseTargetArgs(["--tls-key", certs.server.keyFile])).toThrow("--tls-key needs --tls-cert");
    expect(() => parseTargetArgs(["--tls-client-ca", certs.ca.certFile])).toThrow("--tls-client-ca needs --tls-cert and --tls-key");
    expect(() => parseTargetArgs(["--tls-cert", join(certs.dir, "missing.pem"), "--tls-key", certs.server.keyFile])).toThrow(/--tls-cert: cannot read .*missing\.pem: ENOENT/);
    const notPem = join(certs.dir, "not.pem");
    await writeFile(notPem, "hello");
    expect(() => parseTargetArgs(["--tls-cert", certs.server.certFile, "--tls-key", notPem])).toThrow(/--tls-key: .*not\.pem is not PEM/);
    expect(() => parseTargetArgs(["--tls-cert"])).toThrow("--tls-cert needs a PEM file");
  });

  it("a key that does not go with the certificate, or PEM that does not parse, is refused at start", async () => {
    await expect(createTarget({ tls: { key: certs.client.key, cert: certs.server.cert } })).rejects.toThrow(/^target: TLS key, certificate or client CA not usable: .*key values mismatch/);
    await expect(createTarget({ tls: { key: certs.server.key, cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" } })).rejects.toThrow(
      /^target: TLS key, certificate or client CA not usable/,
    );
  });

  it("kannon target --tls-cert --tls-key --tls-client-ca serves mutual TLS until SIGTERM", async () => {
    const cli = join(import.meta.dirname, "..", "cli", "kannon.ts");
    const args = ["--import", "tsx", cli, "target", "--port", "0", "--tls-cert", certs.server.certFile, "--tls-key", certs.server.keyFile, "--tls-client-ca", certs.ca.certFile];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once("exit", (code) => reject(new Error(`exited with ${String(code)}: ${out}`)));
      });
      const mine = { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key };
      expect(await get2(`${url}/ping`, mine)).toEqual({ status: 200, body: "pong", alpn: "h2" });
      await expect(get11(`${url}/ping`, { ca: certs.ca.cert })).rejects.toThrow();
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 30_000);
});
