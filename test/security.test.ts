/**
 * Limits and who gets in: every request is size-limited before it is read or decoded (a 50 MB
 * unauthenticated body costs the server almost nothing), the target allowlist, and the token's
 * sources (file and environment; on the command line it warns; it is never printed).
 */
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { startKannon } from "./processes.js";
import { rpcError, spec } from "./helpers.js";

const TOKEN = "tok-3f9a1c77e2";
const MB = 1024 * 1024;

/** POSTs `total` bytes of zeros in 64 KiB chunks (never held at once); resolves with status and body. */
function postHuge(port: number, total: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/kannon.v1.OrchestratorService/CreateTest",
      headers: { "content-type": "application/json", ...(chunked ? {} : { "content-length": String(total) }) },
    });
    let settled = false;
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => {
        settled = true;
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", (err) => {
      if (!settled) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < total && !settled && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!settled && !req.destroyed) req.end();
    };
    pump();
  });
}

describe("request limits, target allowlist", () => {
  let dir: string;
  let o: Orchestrator;
  let server: RunningServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-security-"));
    o = await Orchestrator.open({
      bus: createBus(createMemoryTransport()),
      dataDir: dir,
      log: () => {},
      allowTargets: ["127.0.0.1:8081", "target.internal", "[::1]"],
    });
    server = await startServer({ orchestrator: o, token: TOKEN });
  });
  afterAll(async () => {
    await server?.close();
    await o?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a 50 MB unauthenticated body gets resource_exhausted and grows the server by less than 20 MB", async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    for (const chunked of [false, true]) {
      const { status, body } = await postHuge(server.port, 50 * MB, chunked);
      expect(status, body).toBe(429); // Connect's HTTP status for resource_exhausted
      expect(JSON.parse(body).code).toBe("resource_exhausted");
    }
    const growth = process.memoryUsage().rss - before;
    expect(growth).toBeLessThan(20 * MB);
    // Over gRPC too: a message above the limit is refused by its announced length.
    const grpc = createClient(OrchestratorService, createGrpcTransport({ baseUrl: server.url }));
    const err = await rpcError(grpc.createTest({ spec: spec({ targetUrl: "http://127.0.0.1:8081/", body: new Uint8Array(2 * MB) }) }));
    expect(err.code).toBe(Code.ResourceExhausted);
  });

  it("CreateTest carries data files only for a client with the token: 5 MB get through the read limit, unauthenticated ones do not", async () => {
    const content = `id\n${"1234567\n".repeat((5 * MB) / 8)}`;
    const withData = spec({ targetUrl: "http://127.0.0.1:8081/", dataFiles: [{ name: "a.csv", format: 1, content }] });
    const authorized = createClient(
      OrchestratorService,
      createGrpcTransport({ baseUrl: server.url, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }),
    );
    // Read and judged by CreateTest itself (a spec without scenarios may not have data files).
    const judged = await rpcError(authorized.createTest({ spec: withData }));
    expect(judged.code).toBe(Code.InvalidArgument);
    expect(judged.rawMessage).toContain("spec.data_files");
    const anonymous = createClient(OrchestratorService, createGrpcTransport({ baseUrl: server.url }));
    expect((await rpcError(anonymous.createTest({ spec: withData }))).code).toBe(Code.ResourceExhausted);
  });

  it("a spec aimed outside the allowlist is refused with permission_denied naming the target", async () => {
    const client = createClient(
      OrchestratorService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }),
    );
    const make = (targetUrl: string) =>
      client.createTest({ spec: spec({ targetUrl, workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 100 } } } }) });
    for (const url of ["http://127.0.0.1:8081/ping", "https://target.internal/x", "http://target.internal:9000/", "http://[::1]:3000/"])
      expect((await make(url)).test!.spec!.targetUrl).toBe(url);
    for (const url of ["http://127.0.0.1:8082/", "http://localhost:8081/", "https://example.com/", "http://169.254.169.254/latest/meta-data"]) {
      const err = await rpcError(make(url));
      expect(err.code, url).toBe(Code.PermissionDenied);
      expect(err.rawMessage).toContain("is not an allowed target");
      expect(err.rawMessage).toContain("127.0.0.1:8081");
    }
    // Field problems still come first, as invalid_argument.
    expect((await rpcError(make("ftp://127.0.0.1:8081/"))).code).toBe(Code.InvalidArgument);
  });

  it("CORS: an allowed origin gets the preflight and the headers, any other origin gets none", async () => {
    const cors = await startServer({ orchestrator: o, token: TOKEN, corsOrigins: ["https://dash.example"] });
    try {
      const preflight = (origin: string) =>
        fetch(`${cors.url}/kannon.v1.OrchestratorService/ListDrivers`, {
          method: "OPTIONS",
          headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
        });
      const ok = await preflight("https://dash.example");
      expect(ok.status).toBe(204);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://dash.example");
      expect(ok.headers.get("access-control-allow-headers")).toMatch(/authorization/);
      const no = await preflight("https://evil.example");
      expect(no.headers.get("access-control-allow-origin")).toBeNull();
      // An actual call from the allowed origin still needs the token.
      const call = (auth?: string) =>
        fetch(`${cors.url}/kannon.v1.OrchestratorService/ListDrivers`, {
          method: "POST",
          headers: { origin: "https://dash.example", "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
          body: "{}",
        });
      const denied = await call();
      expect(denied.status).toBe(401);
      const allowed = await call(`Bearer ${TOKEN}`);
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://dash.example");
    } finally {
      await cors.close();
    }
  });

  it("GET /metrics needs the bearer token on a server that has one", async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer nope" } })).status).toBe(401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/^# HELP kannon_/m);
  });

  it("a bad allowlist entry is refused at start", async () => {
    await expect(Orchestrator.open({ bus: createBus(createMemoryTransport()), dataDir: join(dir, "x"), allowTargets: ["http://a/b"] })).rejects.toThrow(
      /not HOST\[:PORT\]/,
    );
  });
});

describe("the token's sources", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-token-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("--token-file and KANNON_TOKEN protect the API without a warning; --token warns; the token is never printed", async () => {
    const file = join(dir, "token");
    await writeFile(file, `${TOKEN}\n`);
    const cases = [
      { args: ["--token-file", file], env: {}, warns: false },
      { args: [], env: { KANNON_TOKEN: TOKEN }, warns: false },
      { args: ["--token", TOKEN], env: {}, warns: true },
    ];
    for (const [i, c] of cases.entries()) {
      const saved = process.env.KANNON_TOKEN;
      Object.assign(process.env, c.env);
      let proc;
      try {
        ({ proc } = await startKannon(["orchestrator", "--data", join(dir, `data-${i}`), "--port", "0", "--host", "0.0.0.0", ...c.args], /listening on (http:\S+)/));
      } finally {
        if (saved === undefined) delete process.env.KANNON_TOKEN;
        else process.env.KANNON_TOKEN = saved;
      }
      try {
        const url = proc.output().match(/listening on (http:\/\/[^\s]+)/)![1]!.replace("0.0.0.0", "127.0.0.1");
        const status = async (auth?: string) =>
          (await fetch(`${url}/kannon.v1.OrchestratorService/ListDrivers`, {
            method: "POST",
            headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
            body: "{}",
          })).status;
        expect(await status()).toBe(401);
        expect(await status(`Bearer ${TOKEN}`)).toBe(200);
      } finally {
        await proc.stop();
      }
      expect(proc.output()).not.toContain(TOKEN);
      expect(/process list/.test(proc.output()), proc.output()).toBe(c.warns);
    }
  }, 60_000);

  it("an unreadable or empty --token-file is a usage error (exit 2)", async () => {
    const empty = join(dir, "empty");
    await writeFile(empty, "\n");
    for (const f of [join(dir, "missing"), empty]) {
      const err = await startKannon(["orchestrator", "--data", join(dir, "d"), "--port", "0", "--token-file", f], /listening/).then(
        () => undefined,
        (e: unknown) => String(e),
      );
      expect(err).toMatch(/exited \(2\)/);
      expect(err).toMatch(/--token-file/);
    }
  }, 30_000);
});
