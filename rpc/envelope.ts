/**
 * The length-prefixed envelopes of gRPC, gRPC-Web and Connect streams: one flags byte (0x01
 * compressed; Connect's end-stream 0x02; gRPC-Web's trailers 0x80), a 4-byte big-endian length,
 * the payload. {@link EnvelopeReader} reads a response body chunk by chunk as it arrives, counting
 * messages and timing the first without keeping the others.
 */

/** The payload is compressed (the call's encoding). */
export const FLAG_COMPRESSED = 0x01;
/** Connect: the end-of-stream message (JSON). */
export const FLAG_END_STREAM = 0x02;
/** gRPC-Web: the trailers (HTTP/1-style header lines). */
export const FLAG_TRAILERS = 0x80;

/** One envelope around `payload`. */
export function envelope(flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** An envelope taken whole: its flags and payload. */
export interface Frame {
  flags: number;
  payload: Uint8Array;
}

/** The largest envelope kept whole (the first message, the end frame); a longer one is counted, not kept. */
const MAX_KEPT = 64 * 1024 * 1024;

/**
 * Reads envelopes from a body pushed chunk by chunk. Messages are the envelopes without the `end`
 * flag; the first is kept when asked (checks and captures read it), the end frame always.
 */
export class EnvelopeReader {
  /** Messages seen whole. */
  messages = 0;
  /** When the first message ended (epoch ms); NaN before. */
  firstMs = Number.NaN;
  first: Frame | undefined;
  end: Frame | undefined;
  /** Body bytes pushed. */
  bytes = 0;
  /** The envelope header being read, `headerFill` bytes of it so far. */
  private readonly header = new Uint8Array(5);
  private headerFill = 0;
  private flags = 0;
  private remaining = 0;
  private parts: Uint8Array[] | undefined;

  constructor(
    /** The flag bit that marks the end frame (FLAG_END_STREAM or FLAG_TRAILERS). */
    private readonly endFlag: number,
    private readonly keepFirst: boolean,
  ) {}

  /** True when the body ended in the middle of an envelope. */
  get cut(): boolean {
    return this.headerFill > 0 || this.remaining > 0;
  }

  /** Reads one more chunk of the body, arrived at `nowMs`. */
  push(chunk: Uint8Array, nowMs: number): void {
    this.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining === 0 && this.headerFill < 5) {
        const take = Math.min(5 - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + take), this.headerFill);
        this.headerFill += take;
        i += take;
        if (this.headerFill < 5) return;
        this.flags = this.header[0]!;
        this.remaining = ((this.header[1]! << 24) >>> 0) + (this.header[2]! << 16) + (this.header[3]! << 8) + this.header[4]!;
        this.parts = this.wants() && this.remaining <= MAX_KEPT ? [] : undefined;
        if (this.remaining === 0) this.complete(nowMs);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - i);
      this.parts?.push(chunk.subarray(i, i + take).slice());
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this.complete(nowMs);
    }
  }

  /** Whether the envelope being read is kept. */
  private wants(): boolean {
    return (this.flags & this.endFlag) !== 0 || (this.keepFirst && this.messages === 0);
  }

  private complete(nowMs: number): void {
    const payload = this.parts ? concat(this.parts) : undefined;
    this.parts = undefined;
    this.headerFill = 0;
    if ((this.flags & this.endFlag) !== 0) {
      this.end = { flags: this.flags, payload: payload ?? new Uint8Array(0) };
      return;
    }
    if (this.messages === 0) {
      this.firstMs = nowMs;
      if (payload) this.first = { flags: this.flags, payload };
    }
    this.messages++;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
