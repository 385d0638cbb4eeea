import { describe, expect, it } from "vitest";
import { parseCsv, parseJsonLines, rowRecord, rowsOfShare } from "./data.js";

describe("parseCsv", () => {
  it("reads a header and rows, with quoted commas, quotes and line breaks, CRLF or LF", () => {
    const text = 'id,name,note\r\n1,ann,"a, b"\n2,"bo ""b""","two\nlines"\r\n\n3,,\n';
    expect(parseCsv(text)).toEqual({
      columns: ["id", "name", "note"],
      rows: [["1", "ann", "a, b"], ["2", 'bo "b"', "two\nlines"], ["3", "", ""]],
    });
    expect(parseCsv("a\n")).toEqual({ columns: ["a"], rows: [] });
  });

  it("names the line of every ragged row (counting line breaks inside quotes)", () => {
    expect(parseCsv('a,b\n1,2\n"x\ny",2,3\n4\n5,6')).toEqual([
      { line: 3, problem: "ragged row: 3 field(s), the header has 2" },
      { line: 5, problem: "ragged row: 1 field(s), the header has 2" },
    ]);
  });

  it("refuses stray quotes, unclosed quotes, bad headers and an empty file", () => {
    expect(parseCsv('a,b\n1,x"y\n')).toEqual([{ line: 2, problem: "a quote inside an unquoted field (quote the whole field)" }]);
    expect(parseCsv('a,b\n1,"x"y\n')).toEqual([{ line: 2, problem: 'text after a closing quote (a quote inside a field is written "")' }]);
    expect(parseCsv('a,b\n1,"open\n2,3\n')).toEqual([{ line: 2, problem: "a quoted field is never closed" }]);
    expect(parseCsv("a,,a\n")).toEqual([
      { line: 1, problem: "a column name is empty" },
      { line: 1, problem: 'column "a" is named twice' },
    ]);
    expect(parseCsv("")).toEqual([{ line: 1, problem: "no header row" }]);
  });
});

describe("parseJsonLines", () => {
  it("takes columns in order of first appearance, strings as they are, others as JSON text", () => {
    expect(parseJsonLines('{"id":1,"u":"ann"}\n\n{"u":"bo","tags":["x"],"ok":true}\n')).toEqual({
      columns: ["id", "u", "tags", "ok"],
      rows: [["1", "ann", "", ""], ["", "bo", '["x"]', "true"]],
    });
  });

  it("names the line of each line that is not a JSON object", () => {
    const r = parseJsonLines('{"a":1}\n[1]\n{oops\n');
    expect(Array.isArray(r) && r.map((p) => p.line)).toEqual([2, 3]);
    expect(Array.isArray(r) && r[0]!.problem).toBe("not a JSON object");
  });
});

describe("rowsOfShare", () => {
  it("gives each row to exactly one of N drivers, round-robin in file order", () => {
    const rows = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"];
    expect([0, 1, 2].map((s) => rowsOfShare(rows, s, 3))).toEqual([["r0", "r3", "r6"], ["r1", "r4"], ["r2", "r5"]]);
    expect(rowsOfShare(rows, 0, 1)).toEqual(rows);
    expect(rowsOfShare(["only"], 4, 5)).toEqual([]);
  });

  it("refuses a share outside the fleet", () => {
    expect(() => rowsOfShare([], 3, 3)).toThrow(/share must be in 0..2/);
    expect(() => rowsOfShare([], 0, 0)).toThrow(/drivers must be a positive integer/);
  });

  it("rowRecord maps columns to a row's text", () => {
    expect(rowRecord(["a", "b"], ["1", "2"])).toEqual({ a: "1", b: "2" });
  });
});
