/**
 * The pure side of data files on the bus: what the stored spec keeps, how a file's rows are cut into
 * per-driver parts and chunks under the bus's message size, and what a lost driver's report says.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DataChunkMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DataFileSchema, DataFormat, DataSplit } from "../gen/kannon/v1/scenario_pb.js";
import { TestSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { spec } from "../test/helpers.js";
import { chunksOf, CHUNK_BYTES, encodeChunk, MAX_CHUNK_MESSAGE_BYTES, noteLostRows, partRows, stripData, type DataChunk } from "./data-parts.js";
import { LiveTest } from "./live-test.js";

const file = (split: DataSplit, name = "users.csv") => create(DataFileSchema, { name, format: DataFormat.CSV, split });
/** `n` rows: id, and a 1,000-character padding so that a few hundred rows fill a chunk. */
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => [String(i), "é".repeat(10) + "x".repeat(990)]);

describe("stripData", () => {
  it("empties each file's content and records its UTF-8 size; the input spec is not changed", () => {
    const content = "id,name\n1,Zoë\n";
    const s = spec({ targetUrl: "http://127.0.0.1:1/", dataFiles: [{ name: "a.csv", format: DataFormat.CSV, content }] });
    const { spec: stored, contents } = stripData(s);
    expect(contents).toEqual([content]);
    expect(stored.dataFiles[0]).toMatchObject({ name: "a.csv", content: "", contentBytes: 15n });
    expect(s.dataFiles[0]!.content).toBe(content);
  });

  it("a spec without data files is kept as it is", () => {
    const s = spec({ targetUrl: "http://127.0.0.1:1/" });
    expect(stripData(s)).toEqual({ spec: s, contents: [] });
  });
});

const decode = (c: DataChunk) => fromBinary(DataChunkMessageSchema, c.bytes);

describe("chunksOf", () => {
  it("exclusive: driver k of 3 gets rows k, k+3, …, in chunks under the message limit that add up to its part", () => {
    const rows = rowsOf(2000);
    const chunks = [...chunksOf("t", 2, file(DataSplit.EXCLUSIVE), { columns: ["id", "pad"], rows }, ["a", "b", "c"])];
    const byDriver = new Map<string, string[][]>();
    for (const c of chunks) {
      expect(c.bytes.byteLength).toBeLessThan(MAX_CHUNK_MESSAGE_BYTES);
      const m = decode(c);
      expect(m.values.length).toBe(m.rows * 2);
      const got = byDriver.get(m.driverId) ?? [];
      for (let r = 0; r < m.rows; r++) got.push(m.values.slice(r * 2, r * 2 + 2));
      byDriver.set(m.driverId, got);
      expect(m).toMatchObject({ testId: "t", attempt: 2, driverId: c.driverId, file: "users.csv", columns: ["id", "pad"], seq: c.seq, total: c.total, rows: c.rows });
    }
    // 2,000 rows of ~1 KB are ~2 MB: several chunks per driver.
    expect(chunks.filter((c) => c.driverId === "a").length).toBeGreaterThan(1);
    for (const [k, id] of ["a", "b", "c"].entries()) {
      const ids = byDriver.get(id)!.map((r) => Number(r[0]));
      const expected: number[] = [];
      for (let i = 0; i < 2000; i++) if (i % 3 === k) expected.push(i);
      expect(ids).toEqual(expected);
      const mine = chunks.filter((c) => c.driverId === id).map(decode);
      expect(mine.map((c) => c.seq)).toEqual(mine.map((_, i) => i));
      expect(new Set(mine.map((c) => c.total))).toEqual(new Set([mine.length]));
      expect(new Set(mine.map((c) => c.partRows))).toEqual(new Set([BigInt(expected.length)]));
    }
  });

  it("whole: one part for every driver (driver_id empty), holding every row", () => {
    const rows = rowsOf(700);
    const chunks = [...chunksOf("t", 1, file(DataSplit.WHOLE), { columns: ["id", "pad"], rows }, ["a", "b", "c"])].map(decode);
    expect(new Set(chunks.map((c) => c.driverId))).toEqual(new Set([""]));
    expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(700);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.floor((700 * 1000) / CHUNK_BYTES));
  });

  it("a driver whose part is empty (fewer rows than drivers) still gets one chunk saying so", () => {
    const chunks = [...chunksOf("t", 1, file(DataSplit.EXCLUSIVE), { columns: ["id"], rows: [["0"]] }, ["a", "b"])].map(decode);
    expect(chunks.map((c) => [c.driverId, c.rows, c.total, c.partRows])).toEqual([
      ["a", 1, 1, 1n],
      ["b", 0, 1, 0n],
    ]);
  });

  it("a row too large for one bus message is refused, naming the file and the limit", () => {
    const rows = [["1", "x".repeat(MAX_CHUNK_MESSAGE_BYTES + 1)]];
    expect(() => [...chunksOf("t", 1, file(DataSplit.WHOLE, "big.csv"), { columns: ["id", "blob"], rows }, ["a"])]).toThrow(
      new RegExp(`row 1 of data file "big.csv".*at most ${MAX_CHUNK_MESSAGE_BYTES} bytes`),
    );
  });
});

describe("encodeChunk", () => {
  it("writes exactly the bytes protobuf-es's toBinary writes, for values of every UTF-8 length and zero or large scalars", () => {
    const values = ["", "a", "é", "€uro", "😀", "x".repeat(127), "y".repeat(128), "z".repeat(20_000), "ü".repeat(70_000)];
    const heads = [
      { testId: "t-1", attempt: 0, driverId: "", file: "f.csv", columns: ["a", "b", "c"], seq: 0, total: 1, partRows: 0 },
      { testId: "7f3c…", attempt: 300, driverId: "driver-ü", file: "users", columns: ["", "b", "c"], seq: 129, total: 20_000, partRows: 2 ** 40 },
    ];
    for (const head of heads) {
      for (const rows of [[], [values.slice(0, 3)], [values.slice(3, 6), values.slice(6, 9)]]) {
        const expected = toBinary(DataChunkMessageSchema, create(DataChunkMessageSchema, { ...head, values: rows.flat(), rows: rows.length, partRows: BigInt(head.partRows) }));
        expect(Buffer.from(encodeChunk(head, rows)).equals(Buffer.from(expected)), JSON.stringify({ head, rows: rows.length })).toBe(true);
      }
    }
  });
});

describe("a lost driver's rows", () => {
  it("partRows: exclusive parts differ by at most one row and add up to the file; whole parts are the file", () => {
    const parts = [0, 1, 2].map((k) => partRows(file(DataSplit.EXCLUSIVE), 10, k, 3));
    expect(parts).toEqual([4, 3, 3]);
    expect(partRows(file(DataSplit.WHOLE), 10, 2, 3)).toBe(10);
    expect(partRows(file(DataSplit.EXCLUSIVE), 2, 2, 3)).toBe(0);
  });

  it("the report message of a lost driver says how many rows of each exclusive file it held, unused ones unused", () => {
    const s = spec({
      targetUrl: "http://127.0.0.1:1/",
      dataFiles: [
        { ...file(DataSplit.EXCLUSIVE), rows: 1000n },
        { ...file(DataSplit.WHOLE, "items.csv"), rows: 50n },
      ],
    });
    const live = new LiveTest(create(TestSchema, { id: "t", spec: s, state: TestState.RUNNING, driverIds: ["a", "b", "c"] }));
    live.lose("b", "driver b went missing (no heartbeat for 3000 ms)");
    noteLostRows(live);
    noteLostRows(live); // once only
    const b = live.drivers.get("b")!;
    expect(b.message).toBe(
      "driver b went missing (no heartbeat for 3000 ms); its part of the data files (333 row(s) of users.csv) was its alone: the rows it had not used by then were not used",
    );
    expect(live.drivers.get("a")!.message).toBe("");
  });
});
