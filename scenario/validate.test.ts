import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DataFormat, JsonPathOp } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { MAX_DATA_BYTES } from "./data.js";
import { validateScenarios } from "./validate.js";

type SpecInit = Parameters<typeof create<typeof TestSpecSchema>>[1];
const spec = (init: SpecInit): TestSpec => create(TestSpecSchema, { targetUrl: "http://127.0.0.1:8080", ...init });

const flow: SpecInit = {
  dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content: "user,pass\nann,1\nbo,2\n" }],
  scenarios: [
    {
      name: "shop",
      weight: 3,
      dataFile: "users.csv",
      steps: [
        {
          name: "login",
          method: "POST",
          url: "/login",
          body: '{"user":"{{row.user}}","password":"{{row.pass}}"}',
          captures: [{ name: "token", source: { case: "jsonPath", value: "$.token" } }],
          checks: [{ name: "ok", kind: { case: "status", value: { codes: [200] } } }],
        },
        { name: "item", url: "/items/{{randInt 1 100}}", headers: { authorization: "Bearer {{token}}" } },
      ],
    },
    { name: "browse", weight: 1, steps: [{ name: "search", url: "http://127.0.0.1:8080/search?q={{uuid}}" }] },
  ],
};

describe("validateScenarios", () => {
  it("accepts a valid flow and a single-request spec, and returns the parsed tables", () => {
    const r = validateScenarios(spec(flow));
    expect(r.problems).toEqual([]);
    expect(r.tables.get("users.csv")?.rows).toEqual([["ann", "1"], ["bo", "2"]]);
    expect(validateScenarios(spec({ method: "GET" })).problems).toEqual([]);
  });

  it("returns every problem at once with its field path", () => {
    const r = validateScenarios(
      spec({
        body: new Uint8Array([1]),
        dataFiles: [{ name: "d", format: DataFormat.CSV, content: "a,b\n1\n" }],
        scenarios: [
          {
            name: "s",
            weight: 0,
            steps: [
              { name: "x", url: "/a/{{token}}", captures: [{ name: "uuid", source: { case: "regex", value: { pattern: "(a*)*" } } }] },
              { name: "x", url: "ftp://h", checks: [{ name: "c", kind: { case: "jsonPath", value: { path: "$[*]", op: JsonPathOp.EXISTS } } }, { name: "c" }] },
            ],
          },
          { name: "s", weight: 0, dataFile: "nope", steps: [] },
        ],
      }),
    );
    expect(r.resourceExhausted).toBe(false);
    const byField = Object.fromEntries(r.problems.map((p) => [p.field, p.problem]));
    expect(byField["spec.data_files[0].content"]).toBe("line 2: ragged row: 1 field(s), the header has 2");
    expect(byField["spec.body"]).toMatch(/must be empty when the test has scenarios/);
    expect(byField["spec.scenarios"]).toMatch(/every weight is 0/);
    expect(byField["spec.scenarios[0].steps[0].url"]).toMatch(/unknown name "token"/);
    expect(byField["spec.scenarios[0].steps[0].captures[0].name"]).toBe('"uuid" is a built-in name');
    expect(byField["spec.scenarios[0].steps[0].captures[0].regex.pattern"]).toMatch(/nested quantifier/);
    expect(byField["spec.scenarios[0].steps[1].name"]).toMatch(/"x" is the name of an earlier step/);
    expect(byField["spec.scenarios[0].steps[1].url"]).toMatch(/absolute http\(s\) URL or a path/);
    expect(byField["spec.scenarios[0].steps[1].checks[0].json_path.path"]).toMatch(/wildcards are not singular/);
    expect(byField["spec.scenarios[0].steps[1].checks[1].name"]).toMatch(/earlier check/);
    expect(byField["spec.scenarios[0].steps[1].checks[1]"]).toMatch(/needs a kind/);
    expect(byField["spec.scenarios[1].name"]).toMatch(/"s" is the name of an earlier scenario/);
    expect(byField["spec.scenarios[1].data_file"]).toBe('names no data file: "nope"');
    expect(byField["spec.scenarios[1].steps"]).toBe("needs at least one step");
    expect(r.problems).toHaveLength(14);
  });

  it("a capture is usable only by later steps, and a column only if the data file has it", () => {
    const r = validateScenarios(
      spec({
        dataFiles: [{ name: "u", format: DataFormat.JSON_LINES, content: '{"id":1}\n' }],
        scenarios: [
          {
            name: "s",
            weight: 1,
            dataFile: "u",
            steps: [{ name: "a", url: "/{{t}}/{{row.id}}/{{row.nope}}", captures: [{ name: "t", source: { case: "header", value: "x-t" } }] }],
          },
        ],
      }),
    );
    expect(r.problems.map((p) => p.problem)).toEqual([
      expect.stringMatching(/unknown name "t"/),
      expect.stringMatching(/no column "nope" \(it has "id"\)/),
    ]);
  });

  it("a data file with problems of its own (or none by that name) adds no column problems for the rows its scenarios read", () => {
    const r = validateScenarios(
      spec({
        dataFiles: [{ name: "u", format: DataFormat.CSV, content: "id,user\n1\n" }],
        scenarios: [
          { name: "s", weight: 1, dataFile: "u", steps: [{ name: "a", url: "/{{row.id}}/{{row.user}}" }] },
          { name: "t", weight: 1, dataFile: "gone", steps: [{ name: "b", url: "/{{row.id}}" }] },
        ],
      }),
    );
    expect(r.problems).toEqual([
      { field: "spec.data_files[0].content", problem: "line 2: ragged row: 1 field(s), the header has 2" },
      { field: "spec.scenarios[1].data_file", problem: 'names no data file: "gone"' },
    ]);
  });

  it("data over 200 MB is resource_exhausted, naming the limit", () => {
    const big = "x".repeat(MAX_DATA_BYTES / 2 + 1);
    const r = validateScenarios(spec({ ...flow, dataFiles: [{ name: "a", format: DataFormat.CSV, content: big }, { name: "b", format: DataFormat.CSV, content: big }] }));
    expect(r.resourceExhausted).toBe(true);
    expect(r.problems[0]).toEqual({ field: "spec.data_files", problem: `hold ${MAX_DATA_BYTES + 2} bytes, above the limit of 209715200 bytes (200 MB) per test` });
  });
});
