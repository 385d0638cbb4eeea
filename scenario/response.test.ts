import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CaptureSchema, CheckSchema, HeaderOp, JsonPathOp, type Capture, type Check } from "../gen/kannon/v1/scenario_pb.js";
import { compileCapture, compileCheck, ResponseView, type ResponseLike } from "./response.js";
import type { TemplateProblem } from "./template.js";

const enc = (s: string) => new TextEncoder().encode(s);
const json: ResponseLike = {
  status: 201,
  headers: { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] },
  body: enc('{"token":"tk-1","n":42,"f":1.5,"ok":true,"nil":null,"items":[{"id":"x9"}],"obj":{}}'),
  latencyMs: 12,
};
const html: ResponseLike = { status: 500, headers: {}, body: enc("<h1>oops 42</h1>"), latencyMs: 900 };

function check(kind: Check["kind"]): (r: ResponseLike) => boolean {
  const problems: TemplateProblem[] = [];
  const c = compileCheck(create(CheckSchema, { name: "c", kind }), "f", problems);
  expect(problems).toEqual([]);
  return (r) => c!(new ResponseView(r));
}
function capture(source: Capture["source"]): (r: ResponseLike) => string | undefined {
  const problems: TemplateProblem[] = [];
  const c = compileCapture(create(CaptureSchema, { name: "v", source }), "f", problems);
  expect(problems).toEqual([]);
  return (r) => c!(new ResponseView(r));
}
const jp = (path: string, op: JsonPathOp, value = "") => check({ case: "jsonPath", value: { path, op, value } as never });

describe("checks", () => {
  it("status: codes and ranges", () => {
    const c = check({ case: "status", value: { codes: [200, 201], ranges: [{ first: 300, last: 399 }] } as never });
    expect([c(json), c({ ...json, status: 302 }), c({ ...json, status: 204 }), c(html)]).toEqual([true, true, false, false]);
  });

  it("body contains, latency below, header equals and matches", () => {
    expect([check({ case: "bodyContains", value: "oops" })(html), check({ case: "bodyContains", value: "oops" })(json)]).toEqual([true, false]);
    expect([check({ case: "latencyBelowMs", value: 13 })(json), check({ case: "latencyBelowMs", value: 12 })(json)]).toEqual([true, false]);
    const eq = check({ case: "header", value: { name: "Content-Type", op: HeaderOp.EQUALS, value: "application/json" } as never });
    const m = check({ case: "header", value: { name: "set-cookie", op: HeaderOp.MATCHES, value: "^a=1, b=\\d$" } as never });
    expect([eq(json), eq(html), m(json), m(html)]).toEqual([true, false, true, false]);
  });

  it("JSONPath operators on strings, numbers, booleans, null, objects and missing values", () => {
    const table: [string, JsonPathOp, string, boolean][] = [
      ["$.token", JsonPathOp.EXISTS, "", true],
      ["$.nil", JsonPathOp.EXISTS, "", true],
      ["$.nope", JsonPathOp.EXISTS, "", false],
      ["$.token", JsonPathOp.EQUALS, "tk-1", true],
      ["$.n", JsonPathOp.EQUALS, "42.0", true],
      ["$.n", JsonPathOp.EQUALS, "4.2e1", true],
      ["$.n", JsonPathOp.EQUALS, "42x", false],
      ["$.ok", JsonPathOp.EQUALS, "true", true],
      ["$.nil", JsonPathOp.EQUALS, "null", true],
      ["$.obj", JsonPathOp.EQUALS, "{}", false],
      ["$.token", JsonPathOp.NOT_EQUALS, "other", true],
      ["$.token", JsonPathOp.NOT_EQUALS, "tk-1", false],
      ["$.nope", JsonPathOp.NOT_EQUALS, "x", false],
      ["$.f", JsonPathOp.LESS, "2", true],
      ["$.f", JsonPathOp.GREATER, "1.5", false],
      ["$.n", JsonPathOp.GREATER, "-1e3", true],
      ["$.token", JsonPathOp.LESS, "9", false],
      ["$.items[0].id", JsonPathOp.MATCHES, "^x\\d$", true],
      ["$.n", JsonPathOp.MATCHES, "^42$", true],
      ["$.obj", JsonPathOp.MATCHES, ".*", false],
    ];
    for (const [path, op, value, want] of table) expect(jp(path, op, value)(json), `${path} ${JsonPathOp[op]} ${value}`).toBe(want);
  });

  it("a body that is not JSON fails every JSONPath check, without throwing", () => {
    for (const op of [JsonPathOp.EXISTS, JsonPathOp.EQUALS, JsonPathOp.NOT_EQUALS, JsonPathOp.LESS, JsonPathOp.GREATER, JsonPathOp.MATCHES])
      expect(jp("$.n", op, "42")(html)).toBe(false);
  });
});

describe("captures", () => {
  it("JSONPath: strings as they are, scalars as JSON text, objects and non-JSON bodies find nothing", () => {
    expect(capture({ case: "jsonPath", value: "$.token" })(json)).toBe("tk-1");
    expect(capture({ case: "jsonPath", value: "$.f" })(json)).toBe("1.5");
    expect(capture({ case: "jsonPath", value: "$.ok" })(json)).toBe("true");
    expect(capture({ case: "jsonPath", value: "$.obj" })(json)).toBeUndefined();
    expect(capture({ case: "jsonPath", value: "$.token" })(html)).toBeUndefined();
  });

  it("header and regex group", () => {
    expect(capture({ case: "header", value: "Set-Cookie" })(json)).toBe("a=1, b=2");
    expect(capture({ case: "header", value: "x-none" })(json)).toBeUndefined();
    expect(capture({ case: "regex", value: { pattern: "oops (\\d+)", group: 1 } as never })(html)).toBe("42");
    expect(capture({ case: "regex", value: { pattern: "oops (\\d+)", group: 0 } as never })(html)).toBe("oops 42");
    expect(capture({ case: "regex", value: { pattern: "(x)?oops", group: 1 } as never })(html)).toBeUndefined();
    expect(capture({ case: "regex", value: { pattern: "nothing", group: 0 } as never })(html)).toBeUndefined();
  });
});

describe("compile problems", () => {
  it("name every bad part with its field path", () => {
    const problems: TemplateProblem[] = [];
    compileCheck(create(CheckSchema, { name: "a", kind: { case: "jsonPath", value: { path: "$..x", op: JsonPathOp.LESS, value: "ten" } as never } }), "c0", problems);
    compileCheck(create(CheckSchema, { name: "b", kind: { case: "status", value: { codes: [], ranges: [{ first: 500, last: 400 }] } as never } }), "c1", problems);
    compileCheck(create(CheckSchema, { name: "c" }), "c2", problems);
    compileCapture(create(CaptureSchema, { name: "v", source: { case: "regex", value: { pattern: "(a+)+", group: 0 } as never } }), "k0", problems);
    compileCapture(create(CaptureSchema, { name: "v", source: { case: "regex", value: { pattern: "(a)b", group: 2 } as never } }), "k1", problems);
    expect(problems.map((p) => p.field)).toEqual(["c0.json_path.path", "c0.json_path.value", "c1.status.ranges[0]", "c2", "k0.regex.pattern", "k1.regex.group"]);
    expect(problems[0]!.problem).toMatch(/JSONPath "\$\.\.x" at character 1: descendant/);
    expect(problems[5]!.problem).toBe("is 2, but the pattern has 1 group(s)");
  });
});
