/**
 * HPACK (RFC 7541), as much as the HTTP/2 fast path needs: {@link encodeHeaderBlock} writes a fixed
 * request once (indexed fields and literals that never touch the dynamic table, so the same bytes
 * serve every request of a connection), and {@link HpackDecoder} reads response header blocks for
 * their `:status`, keeping the dynamic table in step with the server's encoder. Only literals
 * the server adds to its table are decoded whole (Huffman included): other literals are skipped,
 * so a typical response costs a few byte reads.
 */
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./hpack-tables.js";

/** A malformed header block: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  readonly code = "KANNON_H2_PROTOCOL";
  constructor(problem: string) {
    super(`HPACK: ${problem}`);
    this.name = "HpackError";
  }
}

function pushInt(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) return void out.push(first | value);
  out.push(first | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  pushInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * The header block of `fields` (names lower case, pseudo-headers first): a field the static table
 * holds whole is indexed, any other is a literal without indexing (the name indexed when the
 * static table has it). No Huffman, no dynamic table: the block is the same on every connection.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const whole = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (whole >= 0) {
      pushInt(out, whole + 1, 7, 0x80);
      continue;
    }
    const named = STATIC_TABLE.findIndex(([n]) => n === name);
    if (named >= 0) pushInt(out, named + 1, 4, 0);
    else {
      out.push(0);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}

/** Huffman decoding tree: node i has children at TREE[2i] / TREE[2i+1]; a leaf is -(symbol + 1). */
const TREE: number[] = [0, 0];
for (let sym = 0; sym < 256; sym++) {
  let node = 0;
  const code = HUFFMAN_CODES[sym]!;
  const len = HUFFMAN_LENGTHS[sym]!;
  for (let bit = len - 1; bit >= 0; bit--) {
    const slot = 2 * node + ((code >>> bit) & 1);
    if (bit === 0) TREE[slot] = -(sym + 1);
    else {
      if (TREE[slot] === 0) {
        TREE[slot] = TREE.length / 2;
        TREE.push(0, 0);
      }
      node = TREE[slot]!;
    }
  }
}

/** Decodes Huffman-coded `buf[start..end)` to latin1 text. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  const bytes: number[] = [];
  let node = 0;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const next = TREE[2 * node + ((b >>> bit) & 1)]!;
      if (next < 0) {
        bytes.push(-next - 1);
        node = 0;
        depth = 0;
      } else if (next === 0) throw new HpackError("invalid Huffman code");
      else {
        node = next;
        depth++;
      }
    }
  }
  // Padding: at most 7 bits, all ones (the EOS code's prefix).
  if (depth > 7) throw new HpackError("Huffman padding longer than 7 bits");
  return Buffer.from(bytes).toString("latin1");
}

/** The `:status` entries of the static table (indexes 8..14) and their values. */
const STATIC_STATUS: readonly number[] = STATIC_TABLE.map(([n, v]) => (n === ":status" ? Number(v) : 0));

/** Most entries a 4,096-byte dynamic table can hold (each at least 32 bytes). */
const TABLE_SLOTS = 128;
/** Huffman strings decoded lately (a server re-sends the same ones: nginx indexes `server` and `date` in every response). */
const decoded = new Map<string, string>();
const MEMO_LIMIT = 512;

/** `huffmanDecode` with a memo of the strings seen lately. */
function huffmanDecodeMemo(buf: Uint8Array, start: number, end: number): string {
  const key = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1");
  let text = decoded.get(key);
  if (text === undefined) {
    text = huffmanDecode(buf, start, end);
    if (decoded.size >= MEMO_LIMIT) decoded.clear();
    decoded.set(key, text);
  }
  return text;
}

/**
 * Reads one connection's response header blocks in order, keeping the dynamic table (a ring of
 * entries, newest last). `decode` returns the block's `:status` (0 when it has none: trailers).
 */
export class HpackDecoder {
  private readonly names: string[] = new Array<string>(TABLE_SLOTS).fill("");
  private readonly values: string[] = new Array<string>(TABLE_SLOTS).fill("");
  private readonly sizes = new Uint16Array(TABLE_SLOTS);
  /** Slot of the next entry; entries are the `count` slots before it. */
  private next = 0;
  private count = 0;
  private size = 0;
  /** The table size we allow (our SETTINGS_HEADER_TABLE_SIZE: the default). */
  private maxSize = 4096;
  private pos = 0;

  private int(buf: Uint8Array, end: number, prefixBits: number): number {
    if (this.pos >= end) throw new HpackError("truncated integer");
    const max = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    let shift = 1;
    for (;;) {
      if (this.pos >= end || shift > 2 ** 28) throw new HpackError("bad integer");
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * shift;
      shift *= 128;
      if ((b & 0x80) === 0) return value;
    }
  }

  /** Reads a string literal; returns it (when `want`) or skips it. */
  private string(buf: Uint8Array, end: number, want: boolean): string {
    const huffman = this.pos < end && (buf[this.pos]! & 0x80) !== 0;
    const len = this.int(buf, end, 7);
    const from = this.pos;
    if (from + len > end) throw new HpackError("string past the end of the block");
    this.pos += len;
    if (!want) return "";
    return huffman ? huffmanDecodeMemo(buf, from, from + len) : Buffer.from(buf.buffer, buf.byteOffset + from, len).toString("latin1");
  }

  /** The slot of dynamic-table index `index` (62 = newest), or -1. */
  private slot(index: number): number {
    const d = index - STATIC_TABLE.length - 1;
    if (d < 0 || d >= this.count) throw new HpackError(`index ${index} out of range`);
    return (this.next - 1 - d + TABLE_SLOTS) % TABLE_SLOTS;
  }

  private nameOf(index: number): string {
    if (index >= 1 && index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![0];
    return this.names[this.slot(index)]!;
  }

  private evict(limit: number): void {
    while (this.size > limit && this.count > 0) {
      const oldest = (this.next - this.count + TABLE_SLOTS) % TABLE_SLOTS;
      this.size -= this.sizes[oldest]!;
      this.count--;
    }
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(this.maxSize - size);
    if (size > this.maxSize) return;
    this.names[this.next] = name;
    this.values[this.next] = value;
    this.sizes[this.next] = size;
    this.next = (this.next + 1) % TABLE_SLOTS;
    this.count++;
    this.size += size;
  }

  /** The `grpc-status` of the block last decoded (undefined: none), for gRPC's trailers. */
  grpcStatus: string | undefined;

  /** Decodes the block `buf[start..end)`; returns its `:status`, or 0. Sets {@link grpcStatus}. */
  decode(buf: Uint8Array, start: number, end: number): number {
    this.pos = start;
    this.grpcStatus = undefined;
    let status = 0;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      if (b & 0x80) {
        // Indexed field.
        const index = this.int(buf, end, 7);
        if (index <= STATIC_TABLE.length && index > 0) {
          if (STATIC_STATUS[index - 1]) status = STATIC_STATUS[index - 1]!;
        } else {
          const at = this.slot(index);
          if (this.names[at] === ":status") status = Number(this.values[at]);
          else if (this.names[at] === "grpc-status") this.grpcStatus = this.values[at];
        }
      } else if (b & 0x40) {
        // Literal with incremental indexing: decoded whole, added to the table.
        const index = this.int(buf, end, 6);
        const name = index === 0 ? this.string(buf, end, true) : this.nameOf(index);
        const value = this.string(buf, end, true);
        if (name === ":status") status = Number(value);
        else if (name === "grpc-status") this.grpcStatus = value;
        this.insert(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update.
        const size = this.int(buf, end, 5);
        if (size > 4096) throw new HpackError(`table size ${size} above the 4096 allowed`);
        this.maxSize = size;
        this.evict(size);
      } else {
        // Literal without indexing / never indexed: skipped unless it is the status (or grpc-status).
        const index = this.int(buf, end, 4);
        const name = index === 0 ? this.string(buf, end, true) : this.nameOf(index);
        const value = this.string(buf, end, name === ":status" || name === "grpc-status");
        if (name === ":status") status = Number(value);
        else if (name === "grpc-status") this.grpcStatus = value;
      }
    }
    return status;
  }
}
