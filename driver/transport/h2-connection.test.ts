/**
 * The h2c fast path's connection (h2-connection.ts) against node:http2 servers made here that
 * limit, refuse and retire streams the way real servers do, the servers' own counts the truth:
 * streams beyond the server's MAX_CONCURRENT_STREAMS wait their turn (a first burst before the
 * server's SETTINGS included), REFUSED_STREAM is sent again (a few times at most), a GOAWAY
 * (closing the connection or not, idle or with a stream in flight) moves the requests to a new
 * connection, and a stream freed by a timeout goes to a waiting request. Every run is bounded in
 * count and time; a stall shows as a failed expectation, not a hung test.
 */
import { constants, createServer, type Http2Session, type Settings } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { IntervalRecorder } from "../load/recorder.js";
import type { ConnectionOptions } from "./connection-options.js";
import { MAX_RETRIES } from "./h2-dial.js";
import { createTransport, type Transport } from "./transport.js";

/** A server answering each stream with `answer` (after the test's own handling); it counts what it saw. */
interface Server {
  url: URL;
  /** Streams received (refused ones too). */
  streams: number;
  /** Streams answered 200. */
  served: number;
  sessions: Http2Session[];
  /** Most streams open at once on one session. */
  maxOpen: number;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Handle = (s: Server, stream: import("node:http2").ServerHttp2Stream, answer: () => void) => void;

async function server(handle: Handle, settings: Settings = {}): Promise<Server> {
  const h2 = createServer({ settings });
  const s: Server = { url: new URL("http://127.0.0.1/"), streams: 0, served: 0, sessions: [], maxOpen: 0 };
  const open = new Map<Http2Session, number>();
  h2.on("session", (session) => {
    s.sessions.push(session);
    open.set(session, 0);
  });
  h2.on("stream", (stream) => {
    s.streams++;
    const session = stream.session!;
    open.set(session, open.get(session)! + 1);
    s.maxOpen = Math.max(s.maxOpen, open.get(session)!);
    stream.on("close", () => open.set(session, open.get(session)! - 1));
    stream.on("error", () => undefined);
    handle(s, stream, () => {
      s.served++;
      stream.respond({ ":status": 200 });
      stream.end("ok");
    });
  });
  await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
  s.url = new URL(`http://127.0.0.1:${(h2.address() as AddressInfo).port}/`);
  cleanups.push(async () => {
    for (const session of s.sessions) session.destroy();
    await new Promise((r) => h2.close(r));
  });
  return s;
}

const answerNow: Handle = (_s, _stream, answer) => answer();

function http2(streams: number, connections: number): ConnectionOptions {
  return { version: 2, streams, connections, tls: undefined, handshakePerRequest: false };
}

function transport(url: URL, http: ConnectionOptions, recorder: IntervalRecorder, timeoutMs = 3000): Transport {
  const t = createTransport({ url, method: "GET", headers: {}, body: undefined, timeoutMs }, recorder, { http });
  cleanups.push(() => t.close(true));
  return t;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `count` requests over `concurrency` closed loops; "stalled" when the loops have not all stopped within 10 s. */
async function closed(t: Transport, recorder: IntervalRecorder, concurrency: number, count: number) {
  let issued = 0;
  const run = t.runClosed(concurrency, () => issued < count && (issued++, true)).then(() => "finished" as const);
  const ended = await Promise.race([run, sleep(10_000).then(() => "stalled" as const)]);
  await t.drain(Date.now() + 3000);
  return { ended, ...recorder.take() };
}

const counts = <K>(m: Map<K, number>) => Object.fromEntries(m);

describe("HTTP/2 connection: the server's stream limit", () => {
  it.each([
    ["requests sent at once (before the server's SETTINGS arrive)", false],
    ["the connection opened ahead", true],
  ])("a server allowing 10 streams, 50 loops on one connection, %s: all loops run, none refused", async (_name, ahead) => {
    const s = await server((_s, _stream, answer) => setTimeout(answer, 2), { maxConcurrentStreams: 10 });
    const recorder = new IntervalRecorder(false);
    const t = transport(s.url, http2(50, 1), recorder);
    if (ahead) {
      t.prepare(50);
      await sleep(100);
    }
    const r = await closed(t, recorder, 50, 1000);
    expect(r.ended).toBe("finished");
    expect(counts(r.statusCounts)).toEqual({ 200: 1000 });
    expect(counts(r.errorCounts)).toEqual({});
    expect(s.streams).toBe(1000);
    expect(s.sessions).toHaveLength(1);
    expect(s.maxOpen).toBe(10);
  });

  it("a stream refused (REFUSED_STREAM) is sent again: every request answered once", async () => {
    const s = await server((s, stream, answer) => (s.streams % 3 === 0 ? stream.close(constants.NGHTTP2_REFUSED_STREAM) : answer()));
    const recorder = new IntervalRecorder(false);
    const r = await closed(transport(s.url, http2(10, 1), recorder), recorder, 10, 300);
    expect(r.ended).toBe("finished");
    expect(counts(r.statusCounts)).toEqual({ 200: 300 });
    expect(counts(r.errorCounts)).toEqual({});
    expect(s.served).toBe(300);
    expect(s.streams).toBeGreaterThan(300);
  });

  it(`a server refusing every stream: each request sent ${MAX_RETRIES + 1} times, then counted as reset; the run ends`, async () => {
    const s = await server((_s, stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const recorder = new IntervalRecorder(false);
    const r = await closed(transport(s.url, http2(10, 1), recorder), recorder, 4, 20);
    expect(r.ended).toBe("finished");
    expect(counts(r.errorCounts)).toEqual({ reset: 20 });
    expect(s.streams).toBe(20 * (MAX_RETRIES + 1));
  });
});

describe("HTTP/2 connection: closing the transport", () => {
  it("a connection still dialing when the transport closes is closed once it connects, not kept open", async () => {
    const s = await server(answerNow);
    const ended = new Set<Http2Session>();
    const t = transport(s.url, http2(10, 4), new IntervalRecorder(false));
    t.prepare(40); // dials 4 connections ahead
    await t.close(true);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && (s.sessions.length < 4 || ended.size < s.sessions.length)) {
      for (const session of s.sessions) if (session.closed || session.destroyed) ended.add(session);
      await sleep(20);
    }
    expect(s.sessions).toHaveLength(4);
    expect(ended.size).toBe(4);
  });
});

describe("HTTP/2 connection: GOAWAY", () => {
  it("closed model: the server says GOAWAY after 10 requests and closes; the loops go on over a new connection", async () => {
    let gone: { session: Http2Session; last: number } | undefined;
    const s = await server((s, stream, answer) => {
      const session = stream.session!;
      const id = stream.id!;
      // Streams above the GOAWAY's last id are left unprocessed, as the GOAWAY says (node:http2 would still hand them over).
      if (session === gone?.session && id > gone.last) return;
      answer();
      if (s.served !== 10) return;
      gone = { session, last: id };
      session.goaway(constants.NGHTTP2_NO_ERROR, id);
      setTimeout(() => session.destroy(), 20);
    });
    const recorder = new IntervalRecorder(false);
    const r = await closed(transport(s.url, http2(4, 1), recorder), recorder, 4, 200);
    expect(r.ended).toBe("finished");
    expect(counts(r.statusCounts)).toEqual({ 200: 200 });
    expect(counts(r.errorCounts)).toEqual({});
    expect(s.served).toBe(200);
    expect(s.sessions).toHaveLength(2);
  });

  it("closed model: a GOAWAY while a stream hangs; once it times out, the next requests go on a new connection", async () => {
    const s = await server((s, stream, answer) => {
      if (s.streams > 1) return answer();
      stream.session!.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
    });
    const recorder = new IntervalRecorder(false);
    const r = await closed(transport(s.url, http2(4, 1), recorder, 500), recorder, 1, 5);
    expect(r.ended).toBe("finished");
    expect(counts(r.errorCounts)).toEqual({ timeout: 1 });
    expect(counts(r.statusCounts)).toEqual({ 200: 4 });
    expect(s.sessions).toHaveLength(2);
  });

  it("open model: a GOAWAY on an idle connection; the requests fired later go on a new connection", async () => {
    const s = await server(answerNow);
    const recorder = new IntervalRecorder(true);
    const t = transport(s.url, http2(4, 1), recorder, 1000);
    t.prepare(0, { ratePerS: 100, maxInFlight: 10 });
    for (let i = 0; i < 5; i++) t.fire(Date.now());
    expect(await t.drain(Date.now() + 2000)).toBe(true);
    // An idle GOAWAY (as Go's idle timeout sends), then the close.
    for (const session of s.sessions) session.goaway(constants.NGHTTP2_NO_ERROR);
    await sleep(100);
    for (const session of s.sessions) session.destroy();
    for (let i = 0; i < 5; i++) {
      t.fire(Date.now());
      await sleep(10);
    }
    expect(await t.drain(Date.now() + 3000)).toBe(true);
    const r = recorder.take();
    expect(counts(r.statusCounts)).toEqual({ 200: 10 });
    expect(counts(r.errorCounts)).toEqual({});
    expect(s.served).toBe(10);
    expect(s.sessions).toHaveLength(2);
  });
});

describe("HTTP/2 connection: timeouts", () => {
  it("open model: a stream freed by a timeout is handed to the request waiting for it", async () => {
    // One connection of one stream; the first request is never answered, the second waits for its stream.
    const s = await server((s, _stream, answer) => (s.streams === 1 ? undefined : answer()));
    const recorder = new IntervalRecorder(true);
    const t = transport(s.url, http2(1, 1), recorder, 1000);
    t.prepare(0, { ratePerS: 10, maxInFlight: 1 });
    t.fire(Date.now());
    await sleep(600);
    // Fired 600 ms later: it waits behind the hung one until that one's timeout (~1 s), well within its own.
    t.fire(Date.now());
    expect(await t.drain(Date.now() + 3000)).toBe(true);
    const r = recorder.take();
    expect(counts(r.errorCounts)).toEqual({ timeout: 1 });
    expect(counts(r.statusCounts)).toEqual({ 200: 1 });
    expect(s.streams).toBe(2);
  });
});
