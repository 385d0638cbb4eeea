import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureMissing, DataFormat, DataOrder, DataSplit, HeaderOp, JsonPathOp, OnExhausted } from "../gen/kannon/v1/scenario_pb.js";
import { usageMessage } from "../test/usage-message.js";
import { readSpecFile } from "./spec-file.js";
import { dataFilesOf, scenariosOf, type Bad } from "./spec-scenarios.js";
import { fileReader } from "./spec-file.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-spec-scenarios-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Maps `yaml` (a list) with `f`, and the problems it names. */
function mapped<T>(f: (value: unknown, bad: Bad) => T, yaml: string): { value: T; problems: string[] } {
  const problems: string[] = [];
  const value = f(parseYaml(yaml), (field, problem) => problems.push(`${field} ${problem}`));
  return { value, problems };
}

describe("scenarios in a spec file", () => {
  it("map the friendly shapes to scenario.proto: status lists and ranges, JSONPath and header checks, captures, think time, a body mapping", () => {
    const { value, problems } = mapped(
      scenariosOf,
      `
- name: shopper
  dataFile: users
  steps:
    - name: login
      method: post
      url: /login
      headers: { x-row-id: "{{row.user}}", x-n: 5 }
      body: { user: "{{row.user}}", password: "pw-{{row.user}}" }
      captures:
        - { name: token, json_path: $.token }
        - { name: where, header: location }
        - { name: id, regex: 'id=(\\d+)', group: 1 }
        - { name: all, regex: { pattern: 'x+' } }
      checks:
        - { name: ok, status: [200, "201", "300-302", "4xx"] }
        - { name: token, json_path: $.token }
        - { name: user, json_path: { path: $.user, value: 7 } }
        - { name: cheap, jsonPath: { path: $.price, op: less, value: 100 } }
        - { name: nullish, json_path: { path: $.x, op: not-equals, value: null } }
        - { name: json, header: { name: content-type, op: MATCHES, value: json } }
        - { name: says, body_contains: token }
        - { name: fast, latency_below: 1.5s }
        - { name: faster, latencyBelowMs: 200 }
      think_time: 200ms
      abortIterationOnFail: true
      on_capture_missing: abort
    - name: browse
      url: "/items/{{row.item}}"
      body: '{"raw": {{id}}}'
      headers: { content-type: text/plain }
      checks: [{ name: s, status: { codes: [200], ranges: [{ first: 500, last: 599 }] } }]
      think_time: { min: 100ms, max: 1s }
- name: idle
  weight: 0
  steps: [{ name: s, url: /search?q=x, think_time: { uniform: { minMs: 1, maxMs: 2 } } }]
- name: plain
  steps: [{ name: s, url: /ping, think_time: { constantMs: 7 }, on_capture_missing: CAPTURE_MISSING_CONTINUE }]
`,
    );
    expect(problems).toEqual([]);
    const [shopper, idle, plain] = value;
    expect(shopper).toMatchObject({ name: "shopper", weight: 1, dataFile: "users" });
    const [login, browse] = shopper!.steps;
    expect(login).toMatchObject({ name: "login", method: "POST", url: "/login", abortIterationOnFail: true, onCaptureMissing: CaptureMissing.ABORT_ITERATION });
    expect(login!.headers).toEqual({ "x-row-id": "{{row.user}}", "x-n": "5", "content-type": "application/json" });
    expect(JSON.parse(login!.body)).toEqual({ user: "{{row.user}}", password: "pw-{{row.user}}" });
    expect(login!.captures.map((c) => [c.name, c.source.case, c.source.value])).toEqual([
      ["token", "jsonPath", "$.token"],
      ["where", "header", "location"],
      ["id", "regex", expect.objectContaining({ pattern: "id=(\\d+)", group: 1 })],
      ["all", "regex", expect.objectContaining({ pattern: "x+", group: 0 })],
    ]);
    const kinds = login!.checks.map((c) => [c.name, c.kind.case]);
    expect(kinds.map((k) => k[1])).toEqual(["status", "jsonPath", "jsonPath", "jsonPath", "jsonPath", "header", "bodyContains", "latencyBelowMs", "latencyBelowMs"]);
    const check = (i: number) => login!.checks[i]!.kind.value;
    expect(check(0)).toMatchObject({ codes: [200, 201], ranges: [{ first: 300, last: 302 }, { first: 400, last: 499 }] });
    expect(check(1)).toMatchObject({ path: "$.token", op: JsonPathOp.EXISTS, value: "" });
    expect(check(2)).toMatchObject({ path: "$.user", op: JsonPathOp.EQUALS, value: "7" });
    expect(check(3)).toMatchObject({ path: "$.price", op: JsonPathOp.LESS, value: "100" });
    expect(check(4)).toMatchObject({ op: JsonPathOp.NOT_EQUALS, value: "null" });
    expect(check(5)).toMatchObject({ name: "content-type", op: HeaderOp.MATCHES, value: "json" });
    expect([check(6), check(7), check(8)]).toEqual(["token", 1500, 200]);
    expect(login!.thinkTime?.kind).toEqual({ case: "constantMs", value: 200 });
    // A text body is the template as written; a header's own content-type stays.
    expect(browse).toMatchObject({ method: "", body: '{"raw": {{id}}}', headers: { "content-type": "text/plain" }, abortIterationOnFail: false, onCaptureMissing: CaptureMissing.UNSPECIFIED });
    expect(browse!.checks[0]!.kind.value).toMatchObject({ codes: [200], ranges: [{ first: 500, last: 599 }] });
    expect(browse!.thinkTime?.kind.value).toMatchObject({ minMs: 100, maxMs: 1000 });
    expect(idle!.weight).toBe(0);
    expect(idle!.steps[0]!.thinkTime?.kind.value).toMatchObject({ minMs: 1, maxMs: 2 });
    expect(plain!.steps[0]).toMatchObject({ thinkTime: { kind: { case: "constantMs", value: 7 } }, onCaptureMissing: CaptureMissing.CONTINUE });
  });

  it("name every problem with the orchestrator's field path, all at once", () => {
    const { problems } = mapped(
      scenariosOf,
      `
- name: a
  weight: -1
  colour: red
  steps:
    - name: s
      url: 5
      headers: [x]
      think_time: { min: 10ms }
      abort_iteration_on_fail: "yes"
      on_capture_missing: explode
      captures: [{ name: t }, { name: u, json_path: $.a, header: b }, { name: v, header: h, group: 2 }]
      checks:
        - { name: none }
        - { name: two, status: 200, body_contains: x }
        - { name: st, status: [200, "2zz", 99.5] }
        - { name: op, json_path: { path: $.a, op: about } }
        - { name: lat, latency_below: soon }
        - { name: h, header: { name: x, op: like, value: y } }
- "just a string"
`,
    );
    expect(problems).toEqual([
      "spec.scenarios[0].colour is not a field here (name, weight, data_file, steps)",
      "spec.scenarios[0].weight must be a whole number ≥ 0, got number -1",
      "spec.scenarios[0].steps[0].headers must be a mapping of header name to value, got a list",
      "spec.scenarios[0].steps[0].url must be text, got number 5",
      "spec.scenarios[0].steps[0].captures[0] needs one source: json_path, header or regex",
      "spec.scenarios[0].steps[0].captures[1] has json_path and header: give one source",
      "spec.scenarios[0].steps[0].captures[2].group goes with a regex given as text (or inside regex: {pattern, group})",
      "spec.scenarios[0].steps[0].checks[0] needs one kind: status, body_contains, json_path, header or latency_below",
      "spec.scenarios[0].steps[0].checks[1] has status and body_contains: give one kind per check",
      'spec.scenarios[0].steps[0].checks[2].status[1] must be a status (200), a range ("200-299" or "2xx"), or a list of them, got string "2zz"',
      'spec.scenarios[0].steps[0].checks[2].status[2] must be a status (200), a range ("200-299" or "2xx"), or a list of them, got number 99.5',
      'spec.scenarios[0].steps[0].checks[3].json_path.op must be one of exists, equals, not_equals, less, greater, matches, got string "about"',
      'spec.scenarios[0].steps[0].checks[4].latency_below must be a duration such as 10s, 500ms, 2m or 1h (a plain number is milliseconds), got "soon"',
      'spec.scenarios[0].steps[0].checks[5].header.op must be one of equals, matches, got string "like"',
      "spec.scenarios[0].steps[0].think_time needs both min and max (e.g. {min: 100ms, max: 300ms}), or one duration such as 200ms",
      'spec.scenarios[0].steps[0].abort_iteration_on_fail must be true or false, got string "yes"',
      'spec.scenarios[0].steps[0].on_capture_missing must be one of continue, abort, abort_iteration, got string "explode"',
      'spec.scenarios[1] must be a mapping (name, weight, data_file, steps), got string "just a string"',
    ]);
    expect(mapped(scenariosOf, "{name: a}").problems).toEqual(["spec.scenarios must be a list, got a mapping"]);
  });
});

describe("data files in a spec file", () => {
  it("read a path relative to the spec file (name and format from it), or take inline content; enums by short or proto name", async () => {
    await writeFile(join(dir, "users.csv"), "user,item\nann,1\nbob,2\n");
    const { value, problems } = mapped(
      (v, bad) => dataFilesOf(v, fileReader(dir), bad),
      `
- path: users.csv
  order: shuffle
  split: whole
  onExhausted: stop
- name: inline
  format: jsonl
  content: '{"a": 1}'
  order: DATA_ORDER_RANDOM
  split: EXCLUSIVE
`,
    );
    expect(problems).toEqual([]);
    expect(value[0]).toMatchObject({ name: "users", format: DataFormat.CSV, content: "user,item\nann,1\nbob,2\n", source: "users.csv", order: DataOrder.SHUFFLE, split: DataSplit.WHOLE, onExhausted: OnExhausted.STOP });
    expect(value[1]).toMatchObject({ name: "inline", format: DataFormat.JSON_LINES, content: '{"a": 1}', source: "", order: DataOrder.RANDOM, split: DataSplit.EXCLUSIVE, onExhausted: OnExhausted.UNSPECIFIED });
  });

  it("name a missing file, both or neither of path and content, and a bad enum", () => {
    const { problems } = mapped(
      (v, bad) => dataFilesOf(v, fileReader(dir), bad),
      `
- { name: gone, path: nope.csv }
- { name: both, path: users.csv, content: "a\\n1" }
- { name: neither, format: csv }
- { name: odd, content: "a", format: xml, on_exhausted: loop }
`,
    );
    expect(problems).toEqual([
      `spec.data_files[0].path cannot read "${join(dir, "nope.csv")}" (ENOENT)`,
      "spec.data_files[1] has both content and path: give one",
      "spec.data_files[2] needs its rows: content (inline) or path (a file, relative to the spec file)",
      'spec.data_files[3].format must be one of csv, jsonl, json_lines, ndjson, got string "xml"',
      'spec.data_files[3].on_exhausted must be one of wrap, stop, got string "loop"',
    ]);
  });
});

describe("a spec file with scenarios", () => {
  it("lists its own problems and the orchestrator's (ragged CSV rows name the file, an unknown template name), exit 2 before anything runs", async () => {
    await writeFile(join(dir, "ragged.csv"), "user,item\nann,1\nbob\n");
    const path = join(dir, "bad-flow.yaml");
    await writeFile(
      path,
      `
avalanche: { concurrency: 1, requestsPerDriver: 1 }
dataFiles: [{ path: ragged.csv }]
scenarios:
  - name: flow
    dataFile: ragged
    steps:
      - { name: login, url: "/login?u={{row.nobody}}", think_time: later }
`,
    );
    const msg = usageMessage(() => readSpecFile(path, "http://127.0.0.1/"));
    expect(msg).toContain(`-f ${path}: `);
    expect(msg).toContain("spec.scenarios[0].steps[0].think_time must be a duration");
    expect(msg).toMatch(/spec\.data_files\[0\]\.content line 3: [^;]* \(in ragged\.csv\)/);
    await writeFile(join(dir, "ok.csv"), "user,item\nann,1\n");
    await writeFile(path, `avalanche: { concurrency: 1, requestsPerDriver: 1 }\ndataFiles: [{ path: ok.csv }]\nscenarios: [{ name: f, dataFile: ok, steps: [{ name: s, url: "/x/{{row.nobody}}" }] }]\n`);
    expect(usageMessage(() => readSpecFile(path, "http://127.0.0.1/"))).toMatch(/spec\.scenarios\[0\]\.steps\[0\]\.url .*nobody/);
  });
});

describe("the examples (examples/*.yaml)", () => {
  const example = (name: string) => readSpecFile(join(import.meta.dirname, "..", "examples", name), "http://127.0.0.1:1/ping");

  it("read without a problem, each in its workload, the CSV of users read from beside the spec", async () => {
    const shop = example("shop-flow.yaml");
    expect(shop.spec.workload.case).toBe("avalanche");
    expect(shop.spec.scenarios.map((s) => [s.name, s.dataFile, s.steps.map((st) => st.name)])).toEqual([["shopper", "users", ["login", "browse", "add to cart"]]]);
    expect(shop.spec.dataFiles[0]).toMatchObject({ name: "users", format: DataFormat.CSV, split: DataSplit.EXCLUSIVE, source: "data/users.csv" });
    expect(shop.spec.dataFiles[0]!.content).toBe(await readFile(join(import.meta.dirname, "..", "examples", "data", "users.csv"), "utf8"));
    const mix = example("read-write-mix.yaml");
    expect(mix.spec.workload.case).toBe("arrivalRate");
    expect(mix.spec.scenarios.map((s) => [s.name, s.weight])).toEqual([["read", 8], ["write", 2]]);
    const smoke = example("api-smoke.yaml");
    expect(smoke.spec.scenarios[0]!.steps.flatMap((s) => s.checks).length).toBeGreaterThanOrEqual(10);
    expect(smoke.thresholds).toEqual(["error_rate<1%", "p99<2s"]);
  });
});
