/**
 * The closed model's fast HTTP/1.1 path (h1-connection.ts) against raw TCP servers on 127.0.0.1 that
 * answer in every framing the parser accepts, split at every byte, and in ways it must refuse.
 * Each case runs a fixed number of requests and checks the recorder's counts, the bytes, and the
 * server's own count of requests; the same cases through undici agree.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { buildRequest } from "./h1-request.js";
import { createTransport } from "./transport.js";
import { IntervalRecorder } from "../load/recorder.js";

/** A server that answers every request it reads (by its blank line) with `answer(n)`, written in pieces of `split` bytes. */
interface RawServer {
  url: string;
  requests: number;
  /** The raw bytes of every request head it read. */
  heads: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function rawServer(answer: (n: number, head: string) => { bytes: string; close?: boolean }, split = 0): Promise<RawServer> {
  const state: RawServer = { url: "", requests: 0, heads: [], close: async () => undefined };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let pending = "";
    socket.on("data", async (d) => {
      pending += d.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const head = pending.slice(0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) break;
        pending = pending.slice(end + 4 + length);
        const n = ++state.requests;
        state.heads.push(head);
        const { bytes, close } = answer(n, head);
        if (split > 0) {
          for (let i = 0; i < bytes.length; i += split) {
            socket.write(Buffer.from(bytes.slice(i, i + split), "latin1"));
            await new Promise((r) => setImmediate(r));
          }
        } else socket.write(Buffer.from(bytes, "latin1"));
        if (close) socket.end();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x?y=1`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
  };
  return state;
}

/** Runs `count` requests through the closed model; returns the interval's snapshot. */
async function run(url: string, count: number, o: { concurrency?: number; pipelining?: number; method?: string; body?: string; timeoutMs?: number; undici?: boolean } = {}) {
  const recorder = new IntervalRecorder(false);
  const transport = createTransport(
    {
      url: new URL(url),
      method: o.method ?? "GET",
      headers: { "x-test": "1" },
      body: o.body ? new TextEncoder().encode(o.body) : undefined,
      timeoutMs: o.timeoutMs ?? 2000,
    },
    recorder,
    { kind: o.undici ? "undici" : "fast", pipelining: o.pipelining ?? 1 },
  );
  let issued = 0;
  const deadline = Date.now() + 10_000;
  await transport.runClosed(o.concurrency ?? 2, () => issued < count && Date.now() < deadline && (issued++, true));
  await transport.drain(Date.now() + 3000);
  await transport.close(true);
  return recorder.take();
}

const statusOf = (s: { statusCounts: Map<number, number> }) => Object.fromEntries(s.statusCounts);
const errorsOf = (s: { errorCounts: Map<string, number> }) => Object.fromEntries(s.errorCounts);

describe("the closed model's HTTP/1.1 fast path", () => {
  it("builds requests only for http and https with headers it can write exactly", () => {
    const get = buildRequest(new URL("http://127.0.0.1:81/a/b?c=d"), "GET", { "x-a": "1" }, undefined)!.toString("latin1");
    expect(get).toBe("GET /a/b?c=d HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:81\r\n\r\n");
    const post = buildRequest(new URL("http://h/"), "POST", { Host: "other" }, new TextEncoder().encode("hé"))!;
    expect(post.toString("latin1")).toBe("POST / HTTP/1.1\r\nHost: other\r\ncontent-length: 3\r\n\r\nh\u00c3\u00a9");
    expect(buildRequest(new URL("http://h/"), "POST", {}, undefined)!.toString("latin1")).toContain("content-length: 0\r\n");
    expect(buildRequest(new URL("https://h/"), "GET", {}, undefined)!.toString("latin1")).toBe("GET / HTTP/1.1\r\nhost: h\r\n\r\n");
    expect(buildRequest(new URL("ftp://h/"), "GET", {}, undefined)).toBeUndefined();
    expect(buildRequest(new URL("http://u:p@h/"), "GET", {}, undefined)).toBeUndefined();
    expect(buildRequest(new URL("http://h/"), "GET", { "x-bad": "a\r\nb" }, undefined)).toBeUndefined();
    expect(buildRequest(new URL("http://h/"), "GET", { connection: "close" }, undefined)).toBeUndefined();
  });

  for (const split of [0, 1, 7]) {
    it(`content-length and chunked bodies (with extensions and trailers), answers split every ${split || "no"} bytes`, async () => {
      const server = await rawServer(
        (n) =>
          n % 2 === 1
            ? { bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello" }
            : { bytes: "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0004\r\ndefg\r\n0\r\nx-trailer: 1\r\n\r\n" },
        split,
      );
      const s = await run(server.url, 40, { concurrency: 3 });
      expect(server.requests).toBe(40);
      expect(s.requests).toBe(40);
      expect(statusOf(s)).toEqual({ 200: 20, 201: 20 });
      expect(errorsOf(s)).toEqual({});
      expect(s.bytesReceived).toBe(20 * 5 + 20 * 7);
      expect(server.heads[0]).toBe(`GET /x?y=1 HTTP/1.1\r\nx-test: 1\r\nhost: ${new URL(server.url).host}`);
      // undici reads the same answers the same way.
      const u = await run(server.url, 40, { concurrency: 3, undici: true });
      expect([u.requests, statusOf(u), errorsOf(u), u.bytesReceived]).toEqual([s.requests, statusOf(s), errorsOf(s), s.bytesReceived]);
    });
  }

  it("no body for HEAD, 204 and 304; interim 100 responses are skipped", async () => {
    const head = await rawServer(() => ({ bytes: "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" }));
    const h = await run(head.url, 10, { method: "HEAD" });
    expect([head.requests, h.requests, h.bytesReceived, statusOf(h)[200]]).toEqual([10, 10, 0, 10]);
    const mixed = await rawServer((n) => ({
      bytes: n % 3 === 0 ? "HTTP/1.1 204 No Content\r\n\r\n" : n % 3 === 1 ? "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n" : "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    }));
    const m = await run(mixed.url, 30, { method: "POST", body: "data" });
    expect(mixed.requests).toBe(30);
    expect(statusOf(m)).toEqual({ 200: 10, 204: 10, 304: 10 });
    expect(m.bytesReceived).toBe(20);
    expect(mixed.heads[0]).toContain("content-length: 4");
  });

  it("connection: close, HTTP/1.0 and close-delimited bodies: every request answered once over new connections", async () => {
    const server = await rawServer((n) =>
      n % 3 === 0
        ? { bytes: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true }
        : n % 3 === 1
          ? { bytes: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", close: true }
          : { bytes: "HTTP/1.1 200 OK\r\n\r\nuntil-close", close: true },
    );
    const s = await run(server.url, 30, { concurrency: 2 });
    expect(server.requests).toBe(30);
    expect(s.requests).toBe(30);
    expect(errorsOf(s)).toEqual({});
    expect(s.bytesReceived).toBe(10 * 2 + 10 * 3 + 10 * 11);
    const u = await run(server.url, 30, { concurrency: 2, undici: true });
    expect([u.requests, statusOf(u), errorsOf(u), u.bytesReceived]).toEqual([s.requests, statusOf(s), errorsOf(s), s.bytesReceived]);
  });

  it("pipelining: 4 requests in flight per connection, all answered in order", async () => {
    const server = await rawServer(() => ({ bytes: "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx" }));
    const s = await run(server.url, 200, { concurrency: 8, pipelining: 4 });
    expect(server.requests).toBe(200);
    expect(s.requests).toBe(200);
    expect(statusOf(s)).toEqual({ 200: 200 });
    expect(s.bytesReceived).toBe(200);
  });

  it("a malformed answer is a protocol error that costs the connection, not the run", async () => {
    const server = await rawServer((n) => ({ bytes: n % 2 === 0 ? "garbage\r\n\r\n" : "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" }));
    const s = await run(server.url, 20, { concurrency: 1 });
    expect(s.requests).toBe(20);
    expect(statusOf(s)[200]).toBe(10);
    expect(errorsOf(s)).toEqual({ protocol: 10 });
  });

  it("refused connections and a silent target are counted as errors of their kind", async () => {
    const server = await rawServer(() => ({ bytes: "" }));
    const silent = await run(server.url, 2, { concurrency: 2, timeoutMs: 300 });
    expect(errorsOf(silent)).toEqual({ timeout: 2 });
    await server.close();
    const port = new URL(server.url).port;
    await new Promise((r) => servers.pop()!.close(r));
    const refused = await run(`http://127.0.0.1:${port}/`, 5, { concurrency: 1 });
    expect(refused.requests).toBe(5);
    expect(errorsOf(refused)).toEqual({ connect_refused: 5 });
  });
});
