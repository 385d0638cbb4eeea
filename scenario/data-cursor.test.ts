import { describe, expect, it } from "vitest";
import { DataOrder, OnExhausted } from "../gen/kannon/v1/scenario_pb.js";
import { DataCursor, threadRows } from "./data-cursor.js";
import type { DataTable } from "./data.js";

const table = (n: number): DataTable => ({ columns: ["id"], rows: Array.from({ length: n }, (_, i) => [String(i)]) });
const ids = (c: DataCursor, n: number) => Array.from({ length: n }, () => c.next()?.[0]);

/** A deterministic source of numbers in [0, 1) (a linear congruential generator). */
function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe("DataCursor", () => {
  it("sequential takes the rows in file order; wrap (the default) starts over, stop ends after one pass", () => {
    expect(ids(new DataCursor(table(3), DataOrder.UNSPECIFIED, OnExhausted.UNSPECIFIED), 7)).toEqual(["0", "1", "2", "0", "1", "2", "0"]);
    const stop = new DataCursor(table(3), DataOrder.SEQUENTIAL, OnExhausted.STOP);
    expect(ids(stop, 5)).toEqual(["0", "1", "2", undefined, undefined]);
    expect(stop.exhausted).toBe(true);
    expect(stop.taken).toBe(3);
  });

  it("shuffle takes every row once per pass, in a new order each pass", () => {
    const c = new DataCursor(table(50), DataOrder.SHUFFLE, OnExhausted.WRAP, seeded(7));
    const first = ids(c, 50);
    const second = ids(c, 50);
    expect([...first].sort()).toEqual(table(50).rows.map((r) => r[0]).sort());
    expect([...second].sort()).toEqual([...first].sort());
    expect(second).not.toEqual(first);
    expect(first).not.toEqual(table(50).rows.map((r) => r[0]));
    const stop = new DataCursor(table(4), DataOrder.SHUFFLE, OnExhausted.STOP, seeded(1));
    expect(new Set(ids(stop, 4)).size).toBe(4);
    expect(stop.next()).toBeUndefined();
  });

  it("random draws with repetition and never runs out, even with stop", () => {
    const c = new DataCursor(table(3), DataOrder.RANDOM, OnExhausted.STOP, seeded(3));
    const drawn = ids(c, 300);
    expect(drawn.every((id) => id !== undefined)).toBe(true);
    expect(new Set(drawn).size).toBe(3);
    expect(c.exhausted).toBe(false);
  });

  it("an empty part is exhausted at once", () => {
    expect(new DataCursor(table(0), DataOrder.SEQUENTIAL, OnExhausted.WRAP).next()).toBeUndefined();
  });
});

describe("threadRows", () => {
  it("thread t of T takes rows j ≡ t (mod T): every row in exactly one thread", () => {
    const parts = [0, 1, 2].map((index) => threadRows(table(8), { index, count: 3 }).rows.map((r) => r[0]));
    expect(parts).toEqual([["0", "3", "6"], ["1", "4", "7"], ["2", "5"]]);
    expect(threadRows(table(2), { index: 0, count: 1 }).rows).toHaveLength(2);
  });
});
