import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTarget, parseTargetArgs } from "./target.js";
import type { Target, TargetCounts } from "./target.js";

let target: Target;

beforeEach(async () => {
  target = await createTarget({ port: 0 });
});

afterEach(async () => {
  await target.close();
});

async function metrics(): Promise<TargetCounts> {
  const res = await fetch(`${target.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as TargetCounts;
}

/** Opens a raw TCP connection, sends one keep-alive request, waits for the full response, keeps the socket open. */
async function openKeepAlive(path: string): Promise<{ socket: Socket; response: string }> {
  const socket = connect(target.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const response = await new Promise<string>((resolve) => {
    let data = "";
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      if (data.includes("\r\n\r\n") && data.endsWith("pong")) resolve(data);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  });
  return { socket, response };
}

describe("createTarget", () => {
  it("listens on 127.0.0.1 and reports its url and port", () => {
    expect(target.port).toBeGreaterThan(0);
    expect(target.url).toBe(`http://127.0.0.1:${target.port}`);
  });

  it("GET /ping answers 200 text/plain pong", async () => {
    const res = await fetch(`${target.url}/ping`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("pong");
  });

  it("POST /ping with a body answers 200 and the keep-alive connection stays usable", async () => {
    const res = await fetch(`${target.url}/ping`, { method: "POST", body: "x".repeat(100_000) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("pong");
    const again = await fetch(`${target.url}/ping`);
    expect(await again.text()).toBe("pong");
    expect((await metrics()).responses).toBe(2);
  });

  it("HEAD /ping answers 200 with headers and no body", async () => {
    const res = await fetch(`${target.url}/ping`, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("4");
    expect(await res.text()).toBe("");
  });

  it("GET / answers a short text naming Kannon's target", async () => {
    const res = await fetch(`${target.url}/`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/Kannon/);
    expect(body.length).toBeGreaterThan(40);
    expect(body.length).toBeLessThan(200);
  });

  it("keeps connections alive with a 65 s timeout", async () => {
    const { socket, response } = await openKeepAlive("/ping");
    socket.destroy();
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    expect(response.toLowerCase()).toContain("connection: keep-alive");
    expect(response.toLowerCase()).toContain("keep-alive: timeout=65");
  });

  it("GET /metrics counts requests and responses, excluding /metrics and /reset", async () => {
    const start = await metrics();
    expect(start).toMatchObject({ requests: 0, responses: 0, byPath: {} });
    expect(new Date(start.startedAt).toISOString()).toBe(start.startedAt);

    for (let i = 0; i < 5; i++) await (await fetch(`${target.url}/ping`)).text();
    await (await fetch(`${target.url}/`)).text();
    await (await fetch(`${target.url}/delay?ms=0`)).text();
    await (await fetch(`${target.url}/nope`)).text();
    await (await fetch(`${target.url}/metrics`, { method: "POST" })).text();
    await metrics();

    const m = await metrics();
    expect(m.requests).toBe(8);
    expect(m.responses).toBe(8);
    expect(m.byPath).toEqual({ "/ping": 5, "/": 1, "/delay": 1, "/nope": 1 });
    expect(m.byStatus).toEqual({ "200": 7, "404": 1 });
    expect(target.counts()).toEqual(m);
  });

  it("counts() returns a snapshot", async () => {
    const before = target.counts();
    await (await fetch(`${target.url}/ping`)).text();
    expect(before).toMatchObject({ requests: 0, responses: 0, byPath: {} });
    expect(target.counts()).toMatchObject({ requests: 1, responses: 1, byPath: { "/ping": 1 } });
  });

  it("POST /reset answers 204 and zeroes the counts", async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${target.url}/ping`)).text();
    const before = await metrics();
    expect(before.requests).toBe(3);
    await new Promise((r) => setTimeout(r, 5));

    const res = await fetch(`${target.url}/reset`, { method: "POST" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    const after = await metrics();
    expect(after).toMatchObject({ requests: 0, responses: 0, byPath: {} });
    expect(Date.parse(after.startedAt)).toBeGreaterThan(Date.parse(before.startedAt));

    await (await fetch(`${target.url}/ping`)).text();
    expect(await metrics()).toMatchObject({ requests: 1, responses: 1, byPath: { "/ping": 1 } });
  });

  it("GET /reset answers 405 and changes nothing", async () => {
    await (await fetch(`${target.url}/ping`)).text();
    const res = await fetch(`${target.url}/reset`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    await res.text();
    expect((await metrics()).requests).toBe(1);
  });

  it("reset() zeroes the counts, and a response finishing after a reset is not counted", async () => {
    const pending = fetch(`${target.url}/delay?ms=300`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 100));
    expect(target.counts().requests).toBe(1);
    target.reset();
    expect(await pending).toBe("ok");
    expect(await metrics()).toMatchObject({ requests: 0, responses: 0, byPath: {} });
  });

  it("non-GET on /metrics answers 405", async () => {
    const res = await fetch(`${target.url}/metrics`, { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    await res.text();
  });

  it("accepts any method on /ping, / and /delay", async () => {
    for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS"]) {
      expect((await fetch(`${target.url}/ping`, { method })).status).toBe(200);
      expect((await fetch(`${target.url}/`, { method })).status).toBe(200);
      expect((await fetch(`${target.url}/delay?ms=1`, { method })).status).toBe(200);
    }
  });

  it("an unknown path answers 404 and counts", async () => {
    const res = await fetch(`${target.url}/missing?x=1`);
    expect(res.status).toBe(404);
    await res.text();
    expect(await metrics()).toMatchObject({ requests: 1, responses: 1, byPath: { "/missing": 1 } });
  });

  it("GET /delay?ms=200 waits at least 200 ms, then answers ok", async () => {
    const t0 = performance.now();
    const res = await fetch(`${target.url}/delay?ms=200`);
    const body = await res.text();
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(body).toBe("ok");
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2_000);
  });

  it("a bad delay answers 400 with a message, and still counts", async () => {
    const bad = ["", "?ms=", "?ms=-1", "?ms=60001", "?ms=1.5", "?ms=abc", "?ms=1e3", "?other=5"];
    for (const query of bad) {
      const res = await fetch(`${target.url}/delay${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.text()).toMatch(/ms.*0.*60000/);
    }
    expect(await metrics()).toMatchObject({ requests: bad.length, responses: bad.length, byPath: { "/delay": bad.length } });
  });

  it("close() resolves fast while a keep-alive connection is open", async () => {
    const { socket, response } = await openKeepAlive("/ping");
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const t0 = performance.now();
    await target.close();
    expect(performance.now() - t0).toBeLessThan(1_000);
    await closed;
  });

  it("close() resolves fast with a request in flight, and is idempotent", async () => {
    const pending = fetch(`${target.url}/delay?ms=30000`).then(
      () => "answered",
      () => "failed",
    );
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await target.close();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await pending).toBe("failed");
    await target.close();
  });

  it("rejects when the port is taken", async () => {
    await expect(createTarget({ port: target.port })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe("parseTargetArgs", () => {
  it("parses --port and --host", () => {
    expect(parseTargetArgs([])).toEqual({});
    expect(parseTargetArgs(["--port", "8080"])).toEqual({ port: 8080 });
    expect(parseTargetArgs(["--port", "0", "--host", "0.0.0.0"])).toEqual({ port: 0, host: "0.0.0.0" });
    expect(parseTargetArgs(["--host=::1", "--port=65535"])).toEqual({ port: 65535, host: "::1" });
  });

  it("throws an Error naming --port for a bad port", () => {
    for (const argv of [["--port"], ["--port", "x"], ["--port", "65536"], ["--port", "-1"], ["--port", "8.5"], ["--port="], ["--port", "--host", "h"]]) {
      expect(() => parseTargetArgs(argv), argv.join(" ")).toThrow(/--port/);
    }
  });

  it("throws for a missing host and for unknown arguments", () => {
    expect(() => parseTargetArgs(["--host"])).toThrow(/--host/);
    expect(() => parseTargetArgs(["--verbose"])).toThrow(/--verbose/);
    expect(() => parseTargetArgs(["8080"])).toThrow(/8080/);
  });
});

describe("target run as a program", () => {
  it("listens on the given port and stops on SIGTERM", async () => {
    const probe = await createTarget({ port: 0 });
    const port = probe.port;
    await probe.close();

    const file = fileURLToPath(new URL("./target.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", file, "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes("\n")) resolve(out);
        });
        child.once("exit", (code) => reject(new Error(`exited with ${String(code)}`)));
      });
      expect(line).toContain(`http://127.0.0.1:${port}`);
      expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).text()).toBe("pong");
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 20_000);
});
