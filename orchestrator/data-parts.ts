/**
 * A test's data files on their way to the drivers (issue 20): the content is kept apart from the
 * stored test (the spec keeps only each file's size and rows), each file is split into one part
 * per driver (DATA_SPLIT_EXCLUSIVE: row i to driver i mod N; DATA_SPLIT_WHOLE: one part for every
 * driver), and each part travels in chunks small enough for one bus message.
 */
import { create } from "@bufbuild/protobuf";
import { DataFileSchema, DataSplit, type DataFile } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { parseDataFile, rowsOfShare, type DataTable } from "../scenario/data.js";
import { DomainError } from "./errors.js";
import type { LiveTest } from "./live-test.js";

/** A chunk's rows stop growing once their values take this many bytes. */
export const CHUNK_BYTES = 512 * 1024;
/**
 * Largest chunk message: Kafka's default limit is 1 MB (message.max.bytes 1048588), and a chunk is
 * one row over CHUNK_BYTES at most; a row alone above this is refused with its file and line.
 */
export const MAX_CHUNK_MESSAGE_BYTES = 900 * 1024;

/** The content of a test's data files, in spec order, kept apart from the test. */
export type DataContents = string[];

/**
 * The spec as the orchestrator stores and sends it: each data file's content emptied, its size in
 * `content_bytes`; and the contents, for the store. A spec without data files is returned as is.
 */
export function stripData(spec: TestSpec): { spec: TestSpec; contents: DataContents } {
  if (spec.dataFiles.length === 0) return { spec, contents: [] };
  const contents = spec.dataFiles.map((f) => f.content);
  const dataFiles = spec.dataFiles.map((f) => create(DataFileSchema, { ...f, content: "", contentBytes: BigInt(Buffer.byteLength(f.content)), rows: 0n }));
  return { spec: create(TestSpecSchema, { ...spec, dataFiles }), contents };
}

/** Parses one stored data file; a file that does not parse (validated at CreateTest, so never) is a failed start. */
export function parseData(file: DataFile, content: string): DataTable {
  const parsed = parseDataFile(file.format, content);
  if (parsed === undefined) throw new DomainError("failed_precondition", `data file "${file.name}" has no format`);
  if (Array.isArray(parsed))
    throw new DomainError("failed_precondition", `data file "${file.name}" does not parse: ${parsed.map((p) => `line ${p.line}: ${p.problem}`).join("; ")}`);
  return parsed;
}

/** The rows each driver holds of a file: its part of an exclusive file, the whole of a whole one. */
export function partRows(file: DataFile, rows: number, share: number, drivers: number): number {
  if (file.split === DataSplit.WHOLE) return rows;
  return share < rows ? Math.ceil((rows - share) / drivers) : 0;
}

/** One chunk of one part, encoded as a DataChunkMessage, ready to publish on `data`. */
export interface DataChunk {
  /** The driver whose part it is; empty: every driver's. */
  driverId: string;
  seq: number;
  total: number;
  rows: number;
  bytes: Uint8Array;
}

/**
 * The chunks of every driver's part of one file (driver_id empty for a whole file, sent once for
 * all). Each chunk's values take at most about {@link CHUNK_BYTES}; a part without rows is one empty
 * chunk, so that every driver learns it holds nothing of the file.
 */
export function* chunksOf(testId: string, attempt: number, file: DataFile, table: DataTable, driverIds: readonly string[]): Generator<DataChunk> {
  const parts =
    file.split === DataSplit.WHOLE
      ? [{ driverId: "", rows: table.rows }]
      : driverIds.map((driverId, share) => ({ driverId, rows: rowsOfShare(table.rows, share, driverIds.length) }));
  for (const { driverId, rows } of parts) {
    const bounds = chunkBounds(rows, file.name);
    const total = bounds.length - 1;
    for (let seq = 0; seq < total; seq++) {
      const slice = rows.slice(bounds[seq], bounds[seq + 1]);
      const head = { testId, attempt, driverId, file: file.name, columns: table.columns, seq, total, partRows: rows.length };
      yield { driverId, seq, total, rows: slice.length, bytes: encodeChunk(head, slice) };
    }
  }
}

/** Where the chunks of `rows` begin, and the end: [0, …, rows.length] ([0, 0] for no rows). */
function chunkBounds(rows: readonly string[][], fileName: string): number[] {
  const bounds = [0];
  let bytes = 0;
  rows.forEach((row, i) => {
    let size = 0;
    for (const v of row) size += stringField(utf8Length(v));
    if (size > MAX_CHUNK_MESSAGE_BYTES)
      throw new DomainError(
        "failed_precondition",
        `row ${i + 1} of data file "${fileName}" (a part's row, header excluded) takes ${size} bytes; a row must fit in one bus message (at most ${MAX_CHUNK_MESSAGE_BYTES} bytes)`,
      );
    if (bytes > 0 && bytes + size > CHUNK_BYTES) {
      bounds.push(i);
      bytes = 0;
    }
    bytes += size;
  });
  if (rows.length > 0 || bounds.length === 1) bounds.push(rows.length);
  return bounds;
}

/** A chunk's fields besides its rows. */
interface ChunkHead {
  testId: string;
  attempt: number;
  driverId: string;
  file: string;
  columns: readonly string[];
  seq: number;
  total: number;
  partRows: number;
}

/**
 * The bytes of a DataChunkMessage, written directly: byte for byte what protobuf-es's toBinary
 * writes (fields in number order, zero scalars and empty strings left out), which spends about a
 * second per MB on a chunk's tens of thousands of short strings (data-parts.test.ts compares them).
 */
export function encodeChunk(head: ChunkHead, rows: readonly (readonly string[])[]): Uint8Array {
  const strings: [number, string][] = [];
  const scalars: [number, number][] = [];
  const add = (field: number, v: string) => strings.push([field, v]);
  if (head.testId) add(1, head.testId);
  if (head.driverId) add(3, head.driverId);
  if (head.file) add(4, head.file);
  let size = 0;
  for (const [, v] of strings) size += stringField(utf8Length(v));
  for (const c of head.columns) size += stringField(utf8Length(c));
  for (const row of rows) for (const v of row) size += stringField(utf8Length(v));
  for (const [field, v] of [[2, head.attempt], [7, rows.length], [8, head.seq], [9, head.total], [10, head.partRows]] as const)
    if (v !== 0) scalars.push([field, v]);
  for (const [, v] of scalars) size += 1 + varintSize(v);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const varint = (v: number) => {
    for (; v >= 0x80; v = Math.floor(v / 0x80)) out[pos++] = (v % 0x80) | 0x80;
    out[pos++] = v;
  };
  const string = (field: number, v: string) => {
    out[pos++] = (field << 3) | 2;
    varint(utf8Length(v));
    pos += out.write(v, pos, "utf8");
  };
  const scalar = (field: number) => {
    const s = scalars.find(([f]) => f === field);
    if (!s) return;
    out[pos++] = field << 3;
    varint(s[1]);
  };
  const text = (field: number) => strings.filter(([f]) => f === field).forEach(([f, v]) => string(f, v));
  text(1);
  scalar(2);
  text(3);
  text(4);
  for (const c of head.columns) string(5, c);
  for (const row of rows) for (const v of row) string(6, v);
  for (const field of [7, 8, 9, 10]) scalar(field);
  return out.subarray(0, pos);
}

/** Bytes a length-delimited field of a `length`-byte value takes (its tag is one byte: field numbers below 16). */
const stringField = (length: number) => 1 + varintSize(length) + length;
const varintSize = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : Math.ceil(Math.log2(v + 1) / 7));

/** UTF-8 length without an encoder for the common ASCII case. */
function utf8Length(s: string): number {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s.length : Buffer.byteLength(s);
}

/**
 * What a driver lost mid-test takes with it: the rows of its part of each exclusive file that it had
 * not used were used by no driver. Empty when it held no exclusive rows.
 */
export function lostRowsNote(spec: TestSpec | undefined, driverIds: readonly string[], driverId: string): string {
  const share = driverIds.indexOf(driverId);
  if (!spec || share < 0) return "";
  const held = spec.dataFiles
    .filter((f) => f.split !== DataSplit.WHOLE)
    .map((f) => ({ name: f.name, rows: partRows(f, Number(f.rows), share, driverIds.length) }))
    .filter((p) => p.rows > 0);
  if (held.length === 0) return "";
  const parts = held.map((p) => `${p.rows} row(s) of ${p.name}`).join(", ");
  return `its part of the data files (${parts}) was its alone: the rows it had not used by then were not used`;
}

/** Adds {@link lostRowsNote} to the message of each lost driver of a run, once. */
export function noteLostRows(live: Pick<LiveTest, "test" | "drivers">): void {
  for (const d of live.drivers.values()) {
    const note = d.lost ? lostRowsNote(live.test.spec, live.test.driverIds, d.id) : "";
    if (note && !d.message.endsWith(note)) d.message = d.message ? `${d.message}; ${note}` : note;
  }
}
