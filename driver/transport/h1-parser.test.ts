/**
 * The pure HTTP/1.1 response parser, fuzzed on its own (seeded, so a failure names its seed):
 * valid responses in every framing, split at random points, give the events the generator knows
 * it wrote, the same as one feed of the whole; random and mutated bytes end in a clean
 * H1ParseError or in nothing, never another exception, and within a bounded time.
 */
import { describe, expect, it } from "vitest";
import { H1ParseError, H1ResponseParser } from "./h1-parser.js";

type Event = [status: number, bodyBytes: number, closeAfter: boolean];

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Feeds `bytes` in the given pieces; returns the events, and the error if one was thrown. */
function parse(bytes: Buffer, cuts: number[], o: { head?: boolean; end?: boolean } = {}): { events: Event[]; error?: unknown } {
  const events: Event[] = [];
  const parser = new H1ResponseParser({ response: (s, b, c) => (events.push([s, b, c]), true) }, o.head ?? false);
  let from = 0;
  try {
    for (const cut of [...cuts, bytes.length]) {
      parser.feed(bytes.subarray(from, cut));
      from = cut;
    }
    if (o.end) parser.end();
    return { events };
  } catch (error) {
    return { events, error };
  }
}

/** Random cut points in `length` bytes (sorted, may repeat: empty pieces are fed too). */
function randomCuts(r: (n: number) => number, length: number): number[] {
  const n = r(2) === 0 ? r(6) : r(length + 1);
  return Array.from({ length: n }, () => r(length + 1)).sort((a, b) => a - b);
}

/** One random valid response, the event it must give (undefined for an interim 1xx, which gives none) and its body. */
function response(r: (n: number) => number, last: boolean): { text: string; event: Event | undefined; body: string } {
  const body = "abcdefghij".repeat(r(30)).slice(0, r(200));
  const pick = r(last ? 7 : 6);
  const ext = () => (r(2) ? `;x=${r(9)}` : "");
  const chunked = () => {
    let text = "";
    for (let rest = body; rest.length > 0; ) {
      const size = 1 + r(rest.length);
      const hex = size.toString(16);
      text += `${(r(2) ? hex.toUpperCase() : hex).padStart(r(3) + 1, "0")}${ext()}\r\n${rest.slice(0, size)}\r\n`;
      rest = rest.slice(size);
    }
    return `${text}0${ext()}\r\n${r(2) ? "x-trailer: 1\r\n" : ""}\r\n`;
  };
  const close = last && r(2) === 0;
  const connection = close ? "Connection: close\r\n" : r(3) === 0 ? "Connection: keep-alive\r\n" : "";
  const status = [200, 201, 404, 503][r(4)]!;
  switch (pick) {
    case 0:
      return { text: `HTTP/1.1 ${status} OK\r\nContent-Length: ${body.length}\r\n${connection}X-A: b\r\n\r\n${body}`, event: [status, body.length, close], body };
    case 1:
      return { text: `HTTP/1.1 ${status} OK\r\n${connection}transfer-encoding: chunked\r\n\r\n${chunked()}`, event: [status, body.length, close], body };
    case 2:
      return { text: `HTTP/1.1 204 No Content\r\n${connection}\r\n`, event: [204, 0, close], body: "" };
    case 3:
      return { text: `HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n${connection}\r\n`, event: [304, 0, close], body: "" };
    case 4:
      return { text: "HTTP/1.1 100 Continue\r\n\r\n", event: undefined, body: "" };
    case 5:
      return { text: `HTTP/1.0 ${status} OK\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`, event: [status, body.length, false], body };
    default:
      // Only as the last response: a body framed by the close.
      return { text: `HTTP/1.1 ${status} OK\r\n\r\n${body}`, event: [status, body.length, true], body };
  }
}

describe("the HTTP/1.1 response parser", () => {
  it("random splits of valid responses give the events the generator wrote, the same as one feed", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const r = rng(seed);
      const count = 1 + r(6);
      let text = "";
      const expected: Event[] = [];
      for (let i = 0; i < count; i++) {
        const one = response(r, i === count - 1);
        text += one.text;
        if (one.event) expected.push(one.event);
      }
      const bytes = Buffer.from(text, "latin1");
      const whole = parse(bytes, [], { end: true });
      expect({ seed, ...whole }).toEqual({ seed, events: expected });
      for (let round = 0; round < 5; round++) {
        const split = parse(bytes, randomCuts(r, bytes.length), { end: true });
        expect({ seed, round, ...split }).toEqual({ seed, round, events: expected });
      }
      // Byte by byte, too.
      const bytewise = parse(bytes, Array.from({ length: bytes.length }, (_, i) => i), { end: true });
      expect({ seed, ...bytewise }).toEqual({ seed, events: expected });
    }
  });

  it("hands over each final response's head and its body bytes (framing removed), split anywhere", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const count = 1 + r(6);
      let text = "";
      const expected: { status: number; body: string }[] = [];
      for (let i = 0; i < count; i++) {
        const one = response(r, i === count - 1);
        text += one.text;
        if (one.event) expected.push({ status: one.event[0], body: one.body });
      }
      const bytes = Buffer.from(text, "latin1");
      for (const cuts of [[], randomCuts(r, bytes.length), Array.from({ length: bytes.length }, (_, i) => i)]) {
        const got: { status: number; body: string }[] = [];
        let head = "";
        let body = "";
        const parser = new H1ResponseParser(
          {
            head: (h) => {
              head = h;
            },
            body: (buf, start, end) => {
              body += buf.toString("latin1", start, end);
            },
            response: (status) => {
              // The head handed over is this response's own (an interim 1xx one is not handed over).
              expect(head.slice(9, 12)).toBe(String(status));
              got.push({ status, body });
              head = body = "";
              return true;
            },
          },
          false,
        );
        let from = 0;
        for (const cut of [...cuts, bytes.length]) {
          parser.feed(bytes.subarray(from, cut));
          from = cut;
        }
        parser.end();
        expect({ seed, got }).toEqual({ seed, got: expected });
      }
    }
  });

  it("framing headers in any case, the last one when repeated; names that only look alike are other headers", () => {
    const cases: [string, Event[]][] = [
      ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 2\r\n\r\nab", [[200, 2, false]]],
      ["HTTP/1.1 200 OK\r\nX-Content-Length: 9\r\nContent-Length:2\r\nConnectionX: close\r\nContent-Lengths: 7\r\n\r\nab", [[200, 2, false]]],
      ["HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: CHUNKED\r\nCONNECTION:  Close \r\n\r\n2\r\nab\r\n0\r\n\r\n", [[200, 2, true]]],
      ["HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\nContent-Length: 2\r\n\r\nabcd", [[200, 4, true]]],
      ["HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nab", [[200, 2, true]]],
    ];
    for (const [text, events] of cases) expect(parse(Buffer.from(text, "latin1"), [], { end: true })).toEqual({ events });
  });

  it("answers to HEAD have no body whatever their content-length says", () => {
    const text = Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\n", "latin1");
    expect(parse(text, [17, 40], { head: true })).toEqual({ events: [[200, 0, false], [404, 0, false]] });
  });

  it("malformed responses are a clean H1ParseError naming the problem", () => {
    const cases: [string, RegExp][] = [
      ["garbage\r\n\r\n", /not an HTTP\/1.x response: "garbage"/],
      ["HTTP/1.1 2x0 OK\r\n\r\n", /bad status "2x0"/],
      ["HTTP/1.1 101 Switching Protocols\r\n\r\n", /101 Switching Protocols is not supported/],
      ["HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", /bad content-length "-1"/],
      ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", /bad chunk size "zz"/],
      ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n", /chunk data not followed by CRLF/],
      [`HTTP/1.1 200 OK\r\nx: ${"a".repeat(70_000)}`, /response head longer than 64 KiB/],
    ];
    for (const [text, message] of cases) {
      const { error } = parse(Buffer.from(text, "latin1"), [5]);
      expect(error).toBeInstanceOf(H1ParseError);
      expect((error as H1ParseError).code).toBe("KANNON_PROTOCOL");
      expect((error as Error).message).toMatch(message);
    }
  });

  it("random bytes and mutated responses never throw anything but an H1ParseError, and never hang", () => {
    const alphabet = Buffer.from("HTTP/1.0 2345\r\n:;abcdefABCDEF-chunked content-length transfer-encoding connection close \r\n\r\n", "latin1");
    const started = performance.now();
    let parseErrors = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed);
      let bytes: Buffer;
      if (seed % 3 === 0) {
        bytes = Buffer.from(Array.from({ length: r(300) }, () => r(256)));
      } else if (seed % 3 === 1) {
        bytes = Buffer.from(Array.from({ length: r(300) }, () => alphabet[r(alphabet.length)]!));
      } else {
        // A valid stream with a few bytes changed, dropped or doubled.
        bytes = Buffer.from(response(r, false).text + response(r, true).text, "latin1");
        for (let k = 1 + r(4); k > 0; k--) {
          const at = r(bytes.length);
          const kind = r(3);
          if (kind === 0) bytes[at] = r(256);
          else if (kind === 1) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 1), bytes.subarray(at)]);
        }
      }
      const { events, error } = parse(bytes, randomCuts(r, bytes.length), { end: r(2) === 0 });
      if (error !== undefined) {
        expect({ seed, error }).toEqual({ seed, error: expect.any(H1ParseError) });
        parseErrors++;
      }
      for (const [status, bodyBytes] of events) {
        expect(status).toBeGreaterThanOrEqual(200);
        expect(status).toBeLessThanOrEqual(999);
        expect(bodyBytes).toBeLessThanOrEqual(bytes.length);
      }
    }
    // The fuzz reached the error paths, and 3,000 cases stay far from any quadratic blow-up.
    expect(parseErrors).toBeGreaterThan(300);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it("a head trickled one byte at a time up to the 64 KiB limit is refused without searching it again and again", () => {
    const parser = new H1ResponseParser({ response: () => true }, false);
    const started = performance.now();
    const byte = Buffer.from("a");
    let error: unknown;
    try {
      parser.feed(Buffer.from("HTTP/1.1 200 OK\r\nx: "));
      for (let i = 0; i < 70_000; i++) parser.feed(byte);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(H1ParseError);
    // Copying and searching the whole carry on every byte would be ~2·10⁹ byte operations (seconds); the parser does each byte once.
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
