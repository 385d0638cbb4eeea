/**
 * What only the fast exchange does (fast-exchange.ts, h1-exchange-connection.ts), against raw TCP
 * servers on 127.0.0.1: an idempotent request on a reused connection the target dropped goes once
 * more on a new one, a POST does not; a malformed answer is `protocol`; an answer trickled byte by byte is kept whole; requests
 * it cannot build go to the undici exchange. exchange.test.ts covers what both kinds share.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ExchangeRequest, ExchangeResult } from "./exchange.js";
import { FastExchange } from "./fast-exchange.js";
import { parseHeaders } from "./h1-exchange-connection.js";
import { UndiciExchange } from "./undici-exchange.js";

const servers: Server[] = [];
const exchanges: FastExchange[] = [];
afterEach(async () => {
  for (const e of exchanges.splice(0)) await e.close(true);
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A raw server calling `onRequest` with each request head it reads (requests here have no body) and the request's number on its connection. */
async function rawServer(onRequest: (socket: Socket, head: string, nthOnConnection: number) => void): Promise<{ url: URL; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    let pending = "";
    let n = 0;
    socket.on("data", (d) => {
      pending += d.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        heads.push(head);
        onRequest(socket, head, ++n);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), heads };
}

function make(connections = 2, fallback = new UndiciExchange(2_000, connections)): FastExchange {
  const e = new FastExchange(2_000, connections, fallback);
  exchanges.push(e);
  return e;
}

const get = (url: URL): ExchangeRequest => ({ method: "GET", url, headers: {}, body: undefined });
const ALL = { body: true, headers: true };

describe("the fast exchange", () => {
  it("sends a request once more on a new connection when the reused one closes before any byte of its answer", async () => {
    // The second request of each connection finds it closed, as a target dropping an idle keep-alive connection does.
    const t = await rawServer((socket, _head, n) => {
      if (n === 1) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      else socket.destroy();
    });
    const e = make(1);
    const first = await e.send(get(t.url), ALL);
    const second = await e.send(get(t.url), ALL);
    expect([first, second].map((r) => r.ok && Buffer.from(r.body).toString())).toEqual(["ok", "ok"]);
    expect(t.heads).toHaveLength(3);
  });

  it("does not send a POST once more (not idempotent): it fails as reset and the target saw it once", async () => {
    const t = await rawServer((socket, _head, n) => {
      if (n === 1) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      else socket.destroy();
    });
    const e = make(1);
    expect(await e.send(get(t.url), ALL)).toMatchObject({ ok: true, status: 200 });
    expect(await e.send({ ...get(t.url), method: "POST" }, ALL)).toMatchObject({ ok: false, kind: "reset" });
    expect(t.heads.map((h) => h.split(" ")[0])).toEqual(["GET", "POST"]);
  });

  it("drops a connection the target ended after an answer without saying so, and sends the next request on a new one", async () => {
    const t = await rawServer((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    let connections = 0;
    servers[0]!.on("connection", () => connections++);
    const e = make(1);
    for (let i = 0; i < 3; i++) {
      const r = await e.send(get(t.url), ALL);
      expect(r.ok && Buffer.from(r.body).toString()).toBe("ok");
      // The next request goes out in the same turn as the answer's end, or a little later.
      if (i === 1) await new Promise((r) => setTimeout(r, 20));
    }
    // One answer per connection. A request written in the instant between the answer and the FIN
    // reaches the half-closed socket unanswered and goes once more on the next connection.
    expect(connections).toBe(3);
    expect(t.heads.length).toBeGreaterThanOrEqual(3);
    expect(t.heads.length).toBeLessThanOrEqual(5);
  });

  it("fails the request as reset when a new connection closes without an answer (no second try)", async () => {
    const t = await rawServer((socket) => socket.destroy());
    const e = make(1);
    expect(await e.send(get(t.url), ALL)).toMatchObject({ ok: false, kind: "reset" });
    expect(t.heads).toHaveLength(1);
  });

  it("fails a malformed answer as protocol, and goes on over a new connection", async () => {
    let bad = true;
    const t = await rawServer((socket) => {
      socket.write(bad ? "HTTP/1.1 2x0 Nope\r\n\r\n" : "HTTP/1.1 204 No Content\r\n\r\n");
      bad = false;
    });
    const e = make(1);
    expect(await e.send(get(t.url), ALL)).toMatchObject({ ok: false, kind: "protocol" });
    expect(await e.send(get(t.url), ALL)).toMatchObject({ ok: true, status: 204, bytes: 0 });
  });

  it("keeps a chunked answer trickled in 3-byte pieces whole (copies out of the parser's reused buffer)", async () => {
    const answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    const t = await rawServer((socket) => {
      let i = 0;
      const next = () => {
        // Pieces that end inside a chunk-size line and go on into its data: the parser reads that data out of its carry buffer.
        if (i < answer.length) socket.write(answer.slice(i, (i += 3)), () => setTimeout(next, 1));
      };
      next();
    });
    const e = make(1);
    const r = (await e.send(get(t.url), ALL)) as Extract<ExchangeResult, { ok: true }>;
    expect(Buffer.from(r.body).toString()).toBe("hello, world");
    expect(r.headers["x-a"]).toEqual(["1", "2"]);
    expect(r.bytes).toBe(12);
  });

  it("hands requests it cannot build exactly to the undici exchange", async () => {
    const seen: string[] = [];
    const fallback = {
      send: async (req: ExchangeRequest) => {
        seen.push(`${req.method} ${req.url.href}`);
        return { ok: false as const, kind: "other", sentMs: 0, endMs: 0 };
      },
      prepare: () => undefined,
      close: async () => undefined,
    } as unknown as UndiciExchange;
    const e = make(1, fallback);
    await e.send({ method: "GET", url: new URL("http://user:pw@127.0.0.1:1/b"), headers: {}, body: undefined }, ALL);
    await e.send({ method: "POST", url: new URL("http://127.0.0.1:1/c"), headers: { "transfer-encoding": "chunked" }, body: "x" }, ALL);
    expect(seen).toEqual(["GET http://user:pw@127.0.0.1:1/b", "POST http://127.0.0.1:1/c"]);
  });

  it("prepare connects ahead, and the requests then use those connections", async () => {
    let connections = 0;
    let firstRequests = 0;
    const t = await rawServer((socket, _head, n) => {
      if (n === 1) firstRequests++;
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    servers[0]!.on("connection", () => connections++);
    const e = make(3);
    // Two URLs of one origin, 5 asked, the pool's limit is 3.
    await e.prepare([t.url, new URL("/other", t.url)], 5);
    const results = await Promise.all(Array.from({ length: 9 }, () => e.send(get(t.url), ALL)));
    expect(results.every((r) => r.ok && r.status === 200)).toBe(true);
    expect(t.heads).toHaveLength(9);
    expect(firstRequests).toBe(3);
    expect(connections).toBe(3);
  });
});

describe("parseHeaders", () => {
  it("reads a head's header lines into lower-case names, trimmed values, repeated names as arrays", () => {
    expect(parseHeaders("HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nno-colon-line\r\nX-Empty:")).toEqual({
      "content-type": "text/plain",
      "set-cookie": ["a=1", "b=2"],
      "x-empty": "",
    });
  });
});
