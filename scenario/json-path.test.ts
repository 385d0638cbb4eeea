import { describe, expect, it } from "vitest";
import { compileJsonPath, JsonPathError, queryJson } from "./json-path.js";

const doc = { token: "abc", items: [{ id: 7 }, { id: 8, tags: null }], "a b": true, "o'k": 1, é: "x", "": 0 };

const find = (q: string, v: unknown = doc) => queryJson(compileJsonPath(q), v);

describe("compileJsonPath", () => {
  it("compiles names, quoted names and indices into segments", () => {
    expect(compileJsonPath("$")).toEqual([]);
    expect(compileJsonPath("$.items[0].id")).toEqual([{ name: "items" }, { index: 0 }, { name: "id" }]);
    expect(compileJsonPath("$[ 'a b' ][\"c\\\"d\"][-1]")).toEqual([{ name: "a b" }, { name: 'c"d' }, { index: -1 }]);
    expect(compileJsonPath("$['o\\'k\\u00e9\\n']")).toEqual([{ name: "o'ké\n" }]);
    expect(compileJsonPath("$.é_1")).toEqual([{ name: "é_1" }]);
  });

  it("refuses non-singular and malformed queries, naming the position", () => {
    const cases: [string, number, RegExp][] = [
      ["token", 0, /starts with "\$"/],
      ["$..id", 1, /descendant/],
      ["$.*", 2, /wildcards/],
      ["$[*]", 2, /wildcards/],
      ["$[0,1]", 3, /several selectors/],
      ["$[1:2]", 3, /slices/],
      ["$[-0]", 2, /-0/],
      ["$[01]", 3, /expected "\]"/],
      ["$.1a", 2, /member name/],
      ["$['abc]", 2, /never closed/],
      ["$['\\x']", 3, /invalid escape/],
      ["$.a b", 3, /expected "." or "\["/],
      ["$[9007199254740992]", 2, /range/],
    ];
    for (const [q, at, why] of cases) {
      let err: unknown;
      try {
        compileJsonPath(q);
      } catch (e) {
        err = e;
      }
      expect(err, q).toBeInstanceOf(JsonPathError);
      expect((err as JsonPathError).position, q).toBe(at);
      expect((err as JsonPathError).message, q).toMatch(why);
    }
  });
});

describe("queryJson", () => {
  it("finds members and elements, negative indices from the end", () => {
    expect(find("$.token")).toEqual({ found: true, value: "abc" });
    expect(find("$.items[0].id")).toEqual({ found: true, value: 7 });
    expect(find("$.items[-1].id")).toEqual({ found: true, value: 8 });
    expect(find("$['a b']")).toEqual({ found: true, value: true });
    expect(find("$['']")).toEqual({ found: true, value: 0 });
    expect(find("$.items[1].tags")).toEqual({ found: true, value: null });
    expect(find("$")).toEqual({ found: true, value: doc });
  });

  it("finds nothing for missing members, out-of-range indices and the wrong kind of value", () => {
    for (const q of ["$.nope", "$.items[2]", "$.items[-3]", "$.token[0]", "$.items.id", "$.items[0].id.x", "$.toString", "$.constructor"])
      expect(find(q), q).toEqual({ found: false });
    expect(find("$[0]", "text")).toEqual({ found: false });
  });
});
