/**
 * A pure, incremental HTTP/1.1 response parser: bytes in, one event per complete response out. No
 * sockets, clocks or timers: the connection (h1-connection.ts) feeds it what it reads and acts on
 * the events, and a test can feed it any bytes split anywhere (h1-parser.test.ts).
 *
 * What it accepts: a status line `HTTP/1.x NNN …`, headers up to 64 KiB, a body framed by
 * `content-length`, by `transfer-encoding: chunked` (extensions and trailers skipped), by the
 * connection closing ({@link H1ResponseParser.end}), or absent (answers to HEAD, 1xx, 204, 304).
 * Interim 1xx responses are skipped; 101 and anything malformed throw an {@link H1ParseError},
 * after which the connection cannot be used. `connection: close` (or an HTTP/1.0 response without
 * keep-alive) marks the response as the connection's last. Body bytes are counted as payload, as
 * undici counts them; the head and the body bytes are handed over only to events that ask for them
 * ({@link H1Events.head}, {@link H1Events.body}).
 */

/** A malformed response (code `KANNON_PROTOCOL`, the `protocol` error kind): the connection it came on is done. */
export class H1ParseError extends Error {
  readonly code = "KANNON_PROTOCOL";

  constructor(problem: string) {
    super(`HTTP protocol error: ${problem}`);
    this.name = "H1ParseError";
  }
}

/** Where the parser's events go. */
export interface H1Events {
  /**
   * A final (non-1xx) response ended: its status, its body's length in bytes, and whether the
   * connection closes after it. Returning false stops the current feed: the rest of its bytes are
   * dropped (the connection is going away).
   */
  response(status: number, bodyBytes: number, closeAfter: boolean): boolean;
  /** A final (non-1xx) response's head (status line and header lines, latin1, without the blank line), before its body. */
  head?(head: string): void;
  /**
   * Bytes `start`..`end` of `buf` are body (chunk framing removed). `buf` may be reused by the
   * next feed: copy what is kept.
   */
  body?(buf: Buffer, start: number, end: number): void;
}

/** Parser states. */
const HEAD = 0;
const FIXED = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_CRLF = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 1024;
const CRLF2 = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** Reads the responses of one connection, in order. */
export class H1ResponseParser {
  private state = HEAD;
  /**
   * Bytes of an incomplete line or head, kept for the next feed: the first `carried` bytes of
   * `carry`, a buffer that grows by doubling, so a head trickled in tiny pieces costs linear time.
   */
  private carry = Buffer.alloc(0);
  private carried = 0;
  /** How much of the carry was searched for its line end already (so a trickled head is not searched again and again). */
  private searched = 0;
  private remaining = 0;
  private status = 0;
  private bytes = 0;
  private closeAfter = false;

  /**
   * `headRequests`: the responses are answers to HEAD, so none has a body (every request on the
   * connection is a HEAD; a connection sending one request at a time may change it between responses).
   */
  constructor(
    private readonly events: H1Events,
    public headRequests: boolean,
  ) {}

  /** Forgets everything read so far (a new connection). */
  reset(): void {
    this.state = HEAD;
    this.carried = 0;
    this.searched = 0;
    this.remaining = 0;
    this.bytes = 0;
  }

  /** True between responses: no byte of an unfinished one was read. */
  get idle(): boolean {
    return this.state === HEAD && this.carried === 0;
  }

  /** The connection ended: a body framed by the close ends here (its event is sent); any other unfinished response is dropped. */
  end(): void {
    const untilClose = this.state === UNTIL_CLOSE;
    const status = this.status;
    const bytes = this.bytes;
    this.reset();
    if (untilClose) this.events.response(status, bytes, true);
  }

  /** Reads `chunk`; throws an {@link H1ParseError} on malformed input (and is then reset). */
  feed(chunk: Buffer): void {
    try {
      this.read(chunk);
    } catch (err) {
      if (err instanceof H1ParseError) this.reset();
      throw err;
    }
  }

  private read(chunk: Buffer): void {
    let buf = chunk;
    let skip = 0;
    if (this.carried > 0) {
      const length = this.carried + chunk.length;
      if (length > this.carry.length) {
        const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.carry.length));
        this.carry.copy(grown, 0, 0, this.carried);
        this.carry = grown;
      }
      chunk.copy(this.carry, this.carried);
      buf = this.carry.subarray(0, length);
      this.carried = 0;
      skip = this.searched;
    }
    let off = 0;
    while (off < buf.length) {
      switch (this.state) {
        case HEAD: {
          const end = buf.indexOf(CRLF2, off + skip);
          skip = 0;
          if (end < 0) return this.keep(buf, off, MAX_HEAD_BYTES, "response head longer than 64 KiB");
          const interim = this.parseHead(buf, off, end);
          off = end + 4;
          // A response without a body ends at its head (an interim 1xx one is skipped).
          if (this.state === HEAD && !interim && !this.complete()) return this.reset();
          break;
        }
        case FIXED:
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, buf.length - off);
          if (take > 0) this.events.body?.(buf, off, off + take);
          this.remaining -= take;
          this.bytes += take;
          off += take;
          if (this.remaining > 0) break;
          if (this.state === CHUNK_DATA) {
            this.remaining = 2;
            this.state = CHUNK_CRLF;
          } else if (!this.complete()) return this.reset();
          break;
        }
        case CHUNK_SIZE: {
          const end = buf.indexOf(CRLF, off + skip);
          skip = 0;
          if (end < 0) return this.keep(buf, off, MAX_CHUNK_LINE_BYTES, "chunk size line longer than 1 KiB");
          if (end - off > MAX_CHUNK_LINE_BYTES) throw new H1ParseError("chunk size line longer than 1 KiB");
          const line = buf.toString("latin1", off, end);
          const semi = line.indexOf(";");
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new H1ParseError(`bad chunk size "${hex.slice(0, 20)}"`);
          const size = parseInt(hex, 16);
          off = end + 2;
          if (size === 0) this.state = TRAILERS;
          else {
            this.remaining = size;
            this.state = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_CRLF: {
          // The CRLF after a chunk's data, possibly split between reads.
          if (buf[off] !== (this.remaining === 2 ? 13 : 10)) throw new H1ParseError("chunk data not followed by CRLF");
          off++;
          if (--this.remaining === 0) this.state = CHUNK_SIZE;
          break;
        }
        case TRAILERS: {
          const end = buf.indexOf(CRLF, off + skip);
          skip = 0;
          if (end < 0) return this.keep(buf, off, MAX_HEAD_BYTES, "trailers longer than 64 KiB");
          // An empty line ends the trailers (and the message); any other line is a trailer, skipped.
          const empty = end === off;
          off = end + 2;
          if (empty && !this.complete()) return this.reset();
          break;
        }
        case UNTIL_CLOSE:
          this.events.body?.(buf, off, buf.length);
          this.bytes += buf.length - off;
          off = buf.length;
          break;
      }
    }
  }

  /** Keeps the unfinished rest of `buf` from `off` for the next feed, unless it is longer than `max`. */
  private keep(buf: Buffer, off: number, max: number, problem: string): void {
    const rest = buf.length - off;
    if (rest > max) throw new H1ParseError(problem);
    if (buf.buffer === this.carry.buffer && buf.byteOffset === this.carry.byteOffset) {
      // `buf` is the carry itself: move the rest to its front.
      if (off > 0) this.carry.copyWithin(0, off, buf.length);
    } else {
      if (rest > this.carry.length) this.carry = Buffer.allocUnsafe(Math.max(rest, 256));
      buf.copy(this.carry, 0, off);
    }
    this.carried = rest;
    // A line end may start in the last 3 bytes kept; everything before them holds none.
    this.searched = Math.max(0, rest - 3);
  }

  /** The response ended: tells the events; false when they said to stop. */
  private complete(): boolean {
    const status = this.status;
    const bytes = this.bytes;
    this.state = HEAD;
    this.bytes = 0;
    return this.events.response(status, bytes, this.closeAfter);
  }

  /** Reads a response head and sets the state for its body; returns true for an interim (1xx) response. */
  /** Reads the head in `buf` from `start` to `end` (without the blank line); true for an interim 1xx response. */
  private parseHead(buf: Buffer, start: number, end: number): boolean {
    if (end - start < 9 || buf.compare(HTTP1, 0, HTTP1.length, start, start + HTTP1.length) !== 0 || buf[start + 8] !== 32)
      throw new H1ParseError(`not an HTTP/1.x response: "${buf.toString("latin1", start, Math.min(end, start + 40))}"`);
    const d0 = buf[start + 9]! - 48;
    const d1 = buf[start + 10]! - 48;
    const d2 = buf[start + 11]! - 48;
    const status = end - start >= 12 && d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 ? d0 * 100 + d1 * 10 + d2 : 0;
    if (status < 100) throw new H1ParseError(`bad status "${buf.toString("latin1", start + 9, Math.min(end, start + 12))}"`);
    if (status === 101) throw new H1ParseError("101 Switching Protocols is not supported");
    this.status = status;
    this.bytes = 0;
    this.state = HEAD;
    if (status < 200) return true;
    this.events.head?.(buf.toString("latin1", start, end));
    const http10 = buf[start + 7] === 48; // "HTTP/1.0"
    readHeaders(buf, start, end);
    const connection = found.connection?.toLowerCase();
    this.closeAfter = connection === undefined ? http10 : connection.includes("close") || (http10 && !connection.includes("keep-alive"));
    if (this.headRequests || status === 204 || status === 304) return false;
    const te = found.transferEncoding?.toLowerCase();
    if (te !== undefined) {
      if (/(^|,)\s*chunked\s*$/.test(te)) this.state = CHUNK_SIZE;
      else {
        // A coding other than chunked last: the body runs until the close.
        this.state = UNTIL_CLOSE;
        this.closeAfter = true;
      }
      return false;
    }
    const cl = found.contentLength;
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new H1ParseError(`bad content-length "${cl.slice(0, 20)}"`);
      this.remaining = Number(cl);
      if (this.remaining > 0) this.state = FIXED;
      return false;
    }
    this.state = UNTIL_CLOSE;
    this.closeAfter = true;
    return false;
  }
}

/** The framing headers of the head {@link readHeaders} read last (one parse at a time: the parser is synchronous). */
const found: { connection: string | undefined; transferEncoding: string | undefined; contentLength: string | undefined } = {
  connection: undefined,
  transferEncoding: undefined,
  contentLength: undefined,
};

const HTTP1 = Buffer.from("HTTP/1.", "latin1");

/** True when the `name.length` bytes of `buf` at `at` are `name` (lower-case letters and `-`), its letters in any case. */
function nameIs(buf: Buffer, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const e = name.charCodeAt(i);
    const b = buf[at + i]!;
    if (b !== e && (e === 45 || (b | 0x20) !== e)) return false;
  }
  return true;
}

/**
 * Reads the header lines of the head in `buf` (`start`..`end`, after the status line) into
 * {@link found}: the values of `connection`, `transfer-encoding` and `content-length` (a name
 * followed at once by `:`, in any case), trimmed, the last one when repeated; undefined when absent.
 * One pass over the bytes, no string but the three values (each response used to lower-case its
 * whole head and search it backwards three times).
 */
function readHeaders(buf: Buffer, start: number, end: number): void {
  found.connection = found.transferEncoding = found.contentLength = undefined;
  let line = buf.indexOf(10, start) + 1; // the first header line, after the status line's LF
  while (line > 0 && line < end) {
    let next = buf.indexOf(10, line);
    if (next < 0 || next > end) next = end;
    const lineEnd = next > line && buf[next - 1] === 13 ? next - 1 : next;
    const length = lineEnd - line;
    // connection (10), content-length (14), transfer-encoding (17), each followed by ":".
    const c = buf[line]! | 0x20;
    if (c === 99 && length > 10 && buf[line + 10] === 58 && nameIs(buf, line, "connection")) found.connection = buf.toString("latin1", line + 11, lineEnd).trim();
    else if (c === 99 && length > 14 && buf[line + 14] === 58 && nameIs(buf, line, "content-length")) found.contentLength = buf.toString("latin1", line + 15, lineEnd).trim();
    else if (c === 116 && length > 17 && buf[line + 17] === 58 && nameIs(buf, line, "transfer-encoding")) found.transferEncoding = buf.toString("latin1", line + 18, lineEnd).trim();
    line = next + 1;
  }
}

