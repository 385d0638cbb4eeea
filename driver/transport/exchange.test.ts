/**
 * Both exchanges (exchange.ts) through one table, against a local node:http server on 127.0.0.1:
 * status, headers and body as sent, chunked bodies, HEAD, `connection: close`, a refused
 * connection, a timeout, and many concurrent sends bounded by the pool. The server's own count of
 * requests and connections is the ground truth.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createExchange, type Exchange, type ExchangeResult } from "./exchange.js";
import { TRANSPORT_KINDS } from "./transport.js";

/** A local server: what it answers per request, and what it saw. */
interface Target {
  url: URL;
  requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  /** Connections accepted so far. */
  connections: number;
  /** Most requests being handled at once. */
  maxConcurrent: number;
}

const servers: { close(cb: () => void): unknown; closeAllConnections?: () => void }[] = [];
const exchanges: Exchange[] = [];
afterEach(async () => {
  for (const e of exchanges.splice(0)) await e.close(true);
  for (const s of servers.splice(0)) {
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function target(handle: (req: IncomingMessage, res: ServerResponse, body: string) => unknown): Promise<Target> {
  const t: Target = { url: new URL("http://127.0.0.1/"), requests: [], connections: 0, maxConcurrent: 0 };
  let concurrent = 0;
  const server = createServer((req, res) => {
    concurrent++;
    t.maxConcurrent = Math.max(t.maxConcurrent, concurrent);
    res.on("close", () => concurrent--);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      t.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      void handle(req, res, body);
    });
  });
  server.on("connection", () => t.connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return t;
}

function make(kind: (typeof TRANSPORT_KINDS)[number], timeoutMs = 5_000, connections = 4): Exchange {
  const e = createExchange({ kind, timeoutMs, connections });
  exchanges.push(e);
  return e;
}

const ALL = { body: true, headers: true };
const NONE = { body: false, headers: false };

function okResult(r: ExchangeResult): Extract<ExchangeResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a response, got the error kind ${r.kind}`);
  return r;
}

describe.each(TRANSPORT_KINDS)("exchange %s", (kind) => {
  it("sends method, path, headers and body, and returns status, lower-case headers and body", async () => {
    const t = await target((_req, res, body) => {
      res.setHeader("X-Echo", `bytes=${Buffer.byteLength(body)}`);
      res.setHeader("Set-Cookie", ["a=1", "b=2"]);
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ got: body }));
    });
    const e = make(kind);
    const url = new URL("/login?x=1", t.url);
    const before = Date.now();
    const r = okResult(await e.send({ method: "POST", url, headers: { "X-Token": "abc", "content-type": "application/json" }, body: '{"u":"é"}' }, ALL));
    expect(r.status).toBe(201);
    // The string body went out as UTF-8: 9 characters, 10 bytes.
    expect(r.headers["x-echo"]).toBe("bytes=10");
    expect(r.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(Buffer.from(r.body).toString("utf8"))).toEqual({ got: '{"u":"é"}' });
    expect(r.bytes).toBe(Buffer.byteLength(JSON.stringify({ got: '{"u":"é"}' })));
    expect(r.sentMs).toBeGreaterThanOrEqual(before - 1);
    expect(r.endMs).toBeGreaterThanOrEqual(r.sentMs);
    expect(t.requests).toHaveLength(1);
    expect(t.requests[0]).toMatchObject({ method: "POST", url: "/login?x=1", body: '{"u":"é"}' });
    expect(t.requests[0]!.headers["x-token"]).toBe("abc");
    expect(t.requests[0]!.headers["host"]).toBe(t.url.host);
  });

  it("copies nothing it was not asked to keep, and still counts the body", async () => {
    const t = await target((_req, res) => res.end("x".repeat(1000)));
    const e = make(kind);
    const r = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, NONE));
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(1000);
    expect(r.body.length).toBe(0);
    expect(Object.keys(r.headers)).toEqual([]);
    const h = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, { body: false, headers: true }));
    expect(h.headers["content-length"]).toBe("1000");
    expect(h.body.length).toBe(0);
  });

  it("reads a chunked body whole, over one reused connection", async () => {
    const t = await target(async (_req, res) => {
      res.writeHead(200, { "transfer-encoding": "chunked" });
      for (let i = 0; i < 5; i++) {
        res.write(`part${i};`);
        await new Promise((r) => setTimeout(r, 2));
      }
      res.end();
    });
    const e = make(kind);
    for (let i = 0; i < 4; i++) {
      const r = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL));
      expect(Buffer.from(r.body).toString()).toBe("part0;part1;part2;part3;part4;");
      expect(r.bytes).toBe(30);
    }
    // Connections are reused (undici's pool may open a second one while the first is settling).
    expect(t.connections).toBeLessThan(4);
  });

  it("hands each body chunk to onBody as it arrives (kept or not), and says the protocol: http/1.1, no trailers", async () => {
    const t = await target(async (_req, res) => {
      res.writeHead(200, { "transfer-encoding": "chunked" });
      for (let i = 0; i < 3; i++) {
        res.write(`m${i};`);
        await new Promise((r) => setTimeout(r, 20));
      }
      res.end();
    });
    const e = make(kind);
    for (const keep of [ALL, NONE]) {
      const seen: { text: string; at: number }[] = [];
      const onBody = (chunk: Uint8Array, at: number) => seen.push({ text: Buffer.from(chunk).toString(), at });
      const r = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined, onBody }, keep));
      expect(seen.map((s) => s.text).join("")).toBe("m0;m1;m2;");
      // Written 20 ms apart: they arrived as separate chunks, in time order, before the end.
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(seen.at(-1)!.at).toBeGreaterThanOrEqual(seen[0]!.at + 30);
      expect(seen.at(-1)!.at).toBeLessThanOrEqual(r.endMs);
      expect(r.protocol).toBe("http/1.1");
      expect(r.trailers).toEqual({});
      expect(Buffer.from(r.body).toString()).toBe(keep.body ? "m0;m1;m2;" : "");
    }
  });

  it("answers HEAD without waiting for a body, then goes on on the same connection", async () => {
    const t = await target((req, res) => {
      res.writeHead(200, { "content-length": "50", "x-method": req.method });
      res.end(req.method === "HEAD" ? undefined : "y".repeat(50));
    });
    const e = make(kind);
    for (let i = 0; i < 2; i++) {
      const head = okResult(await e.send({ method: "HEAD", url: t.url, headers: {}, body: undefined }, ALL));
      expect(head.status).toBe(200);
      expect(head.bytes).toBe(0);
      expect(head.headers["x-method"]).toBe("HEAD");
      const get = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL));
      expect(get.bytes).toBe(50);
      expect(Buffer.from(get.body).toString()).toBe("y".repeat(50));
    }
    expect(t.connections).toBeLessThan(4);
  });

  it("opens a new connection after `connection: close`", async () => {
    const t = await target((_req, res) => {
      res.setHeader("connection", "close");
      res.end("bye");
    });
    const e = make(kind);
    for (let i = 0; i < 3; i++) {
      const r = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL));
      expect(Buffer.from(r.body).toString()).toBe("bye");
    }
    expect(t.requests).toHaveLength(3);
    expect(t.connections).toBe(3);
  });

  it("fails a refused connection as connect_refused", async () => {
    const free = createNetServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const e = make(kind);
    const r = await e.send({ method: "GET", url: new URL(`http://127.0.0.1:${port}/`), headers: {}, body: undefined }, ALL);
    expect(r).toMatchObject({ ok: false, kind: "connect_refused" });
  });

  it("fails a request that takes longer than the timeout as timeout, and goes on afterwards", async () => {
    const t = await target((req, res) => {
      if (req.url === "/slow") setTimeout(() => res.end("late"), 3_000);
      else res.end("fast");
    });
    const e = make(kind, 200);
    const r = await e.send({ method: "GET", url: new URL("/slow", t.url), headers: {}, body: undefined }, ALL);
    expect(r).toMatchObject({ ok: false, kind: "timeout" });
    expect(r.endMs - r.sentMs).toBeGreaterThanOrEqual(190);
    expect(r.endMs - r.sentMs).toBeLessThan(2_000);
    const next = okResult(await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL));
    expect(Buffer.from(next.body).toString()).toBe("fast");
  });

  it("keeps at most `connections` requests in flight per origin; the rest wait for a free connection", async () => {
    const t = await target((_req, res) => setTimeout(() => res.end("ok"), 5));
    const e = make(kind, 5_000, 3);
    const sends = Array.from({ length: 30 }, (_, i) => e.send({ method: "GET", url: new URL(`/n${i}`, t.url), headers: {}, body: undefined }, ALL));
    const results = await Promise.all(sends);
    expect(results.every((r) => r.ok && r.status === 200)).toBe(true);
    expect(t.requests.map((r) => r.url).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `/n${i}`).sort());
    expect(t.maxConcurrent).toBeLessThanOrEqual(3);
    expect(t.connections).toBeLessThanOrEqual(3);
  });

  it("reads a body framed by the close of the connection", async () => {
    const raw = createNetServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nX-Kind: close-framed\r\n\r\n" + "z".repeat(300)));
    });
    servers.push(raw);
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const url = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}/`);
    const e = make(kind);
    for (let i = 0; i < 2; i++) {
      const r = okResult(await e.send({ method: "GET", url, headers: {}, body: undefined }, ALL));
      expect(r.headers["x-kind"]).toBe("close-framed");
      expect(Buffer.from(r.body).toString()).toBe("z".repeat(300));
      expect(r.bytes).toBe(300);
    }
  });

  it("counts the wait for a free connection in the timeout", async () => {
    const t = await target((_req, res) => setTimeout(() => res.end("late"), 3_000));
    const e = make(kind, 500, 1);
    const results = await Promise.all([0, 1].map(() => e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL)));
    expect(results.map((r) => (r.ok ? r.status : r.kind))).toEqual(["timeout", "timeout"]);
    // The second waited for the one connection until the first timed out (~500 ms): had its own
    // 500 ms started only then, it would have ended after ~1,000 ms.
    const waited = results[1]!;
    expect(waited.endMs - waited.sentMs).toBeLessThan(900);
  });

  it("closes gracefully after the requests in flight, or aborts them when forced", async () => {
    const t = await target((_req, res) => setTimeout(() => res.end("done"), 100));
    const graceful = make(kind);
    const inFlight = graceful.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL);
    await new Promise((r) => setTimeout(r, 20));
    await graceful.close(false);
    expect(okResult(await inFlight).status).toBe(200);
    const forced = make(kind);
    const aborted = forced.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL);
    await new Promise((r) => setTimeout(r, 20));
    await forced.close(true);
    expect(await aborted).toMatchObject({ ok: false, kind: "aborted" });
  });

  it("a graceful close waits no longer than the request timeout for a request that never ends", async () => {
    const t = await target(() => undefined);
    const e = make(kind, 300);
    const hung = e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL);
    await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    await e.close(false);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await hung).toMatchObject({ ok: false, kind: "timeout" });
  });

  it("fails sends after close as aborted", async () => {
    const t = await target((_req, res) => res.end());
    const e = make(kind);
    await e.close(false);
    const r = await e.send({ method: "GET", url: t.url, headers: {}, body: undefined }, ALL);
    expect(r).toMatchObject({ ok: false, kind: "aborted" });
  });
});

describe("createExchange", () => {
  it("refuses bad options by name", () => {
    expect(() => createExchange({ kind: "h3" as never, timeoutMs: 1, connections: 1 })).toThrow(/transport must be one of fast, undici, got h3/);
    expect(() => createExchange({ timeoutMs: 0, connections: 1 })).toThrow(/timeoutMs must be > 0/);
    expect(() => createExchange({ timeoutMs: 1, connections: 0 })).toThrow(/connections must be an integer >= 1/);
  });
});
