import { fromJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { compileTemplate, UNKNOWN_COLUMNS, type Template } from "../scenario/template.js";
import { requestProblems, sampleJson } from "./request-json.js";

const createTest = OrchestratorService.method.createTest;
const echo = TargetService.method.echo;

function template(text: string): Template {
  const r = compileTemplate(text, "t", { columns: UNKNOWN_COLUMNS, vars: new Set(["token", "n"]) });
  if ("problems" in r) throw new Error(JSON.stringify(r.problems));
  return r.template;
}

describe("requestProblems", () => {
  it("accepts JSON that fits, in JSON names or proto names, and empty text as the empty message", () => {
    expect(requestProblems(echo, '{"text": "hi", "delayMs": 5, "response_bytes": "12"}')).toEqual([]);
    expect(requestProblems(echo, "")).toEqual([]);
    expect(requestProblems(echo, "  {}  ")).toEqual([]);
    const rich =
      '{"spec": {"name": "n", "targetUrl": "http://127.0.0.1:1/", "headers": {"a": "b"}, "avalanche": {"concurrency": 2, "durationMs": 5}, "thresholds": ["p99<5ms"], "http": {"version": "HTTP_VERSION_2"}, "rpcSchema": {"image": "AAEC"}, "scenarios": [{"name": "s", "steps": [{"name": "a", "thinkTime": {"constantMs": 3}}]}]}}';
    expect(requestProblems(createTest, rich)).toEqual([]);
    // The independent reader agrees that it fits.
    expect(fromJsonString(createTest.input, rich).spec?.scenarios[0]?.steps[0]?.thinkTime?.kind.value).toBe(3);
  });

  it("names the field path of every problem at once", () => {
    const json = JSON.stringify({
      spec: {
        nme: "typo",
        targetUrl: 5,
        headers: { ok: "x", bad: 1 },
        avalanche: { concurrency: "many", durationMs: -1 },
        thresholds: ["a", 2],
        http: { version: "HTTP_3" },
        rpcSchema: { image: "@@" },
        scenarios: [{ name: "s", steps: [{ name: "a" }, { nam: "b", checks: "no" }] }],
      },
    });
    expect(requestProblems(createTest, json)).toEqual([
      expect.stringMatching(/^spec\.nme: kannon\.v1\.TestSpec has no such field \(it has name, targetUrl, method, headers, .*, avalanche, tsunami, arrivalRate\)$/),
      "spec.targetUrl: expected string, got 5",
      'spec.headers["bad"]: expected string, got 1',
      'spec.avalanche.concurrency: expected number (uint32), got "many"',
      "spec.avalanche.durationMs: expected number (uint32): -1 out of range",
      "spec.thresholds[1]: expected string, got 2",
      'spec.http.version: "HTTP_3" is not a value of kannon.v1.HttpVersion (HTTP_VERSION_UNSPECIFIED, HTTP_VERSION_1_1, HTTP_VERSION_2)',
      "spec.rpcSchema.image: invalid base64 string",
      expect.stringMatching(/^spec\.scenarios\[0\]\.steps\[1\]\.nam: kannon\.v1\.Step has no such field/),
      'spec.scenarios[0].steps[1].checks: expected Array, got "no"',
    ]);
  });

  it("names a message given as a scalar, a field set twice and two members of one oneof", () => {
    expect(requestProblems(echo, "[1]")).toEqual(["(request): expected a JSON object (kannon.target.v1.EchoRequest), got [1]"]);
    expect(requestProblems(createTest, '{"spec": 3}')).toEqual(["spec: expected a JSON object (kannon.v1.TestSpec), got 3"]);
    expect(requestProblems(echo, '{"delayMs": 1, "delay_ms": 2}')).toEqual(['delay_ms: the field is also set as "delayMs"']);
    expect(requestProblems(createTest, '{"spec": {"avalanche": {}, "tsunami": {}}}')).toEqual(['spec.tsunami: "avalanche" is already set, and both are in oneof workload']);
  });

  it("names text that is not JSON", () => {
    expect(requestProblems(echo, '{"text": }')).toEqual([expect.stringMatching(/^\(request\): is not JSON: /)]);
  });
});

describe("sampleJson", () => {
  it("renders slots as samples that any scalar accepts, and still checks the fields around them", () => {
    const t = template('{"text": "id {{uuid}} of {{row.user}}", "delayMs": {{randInt 1 9}}, "responseBytes": "{{n}}"}');
    const sample = sampleJson(t);
    expect(() => JSON.parse(sample)).not.toThrow();
    expect(requestProblems(echo, sample)).toEqual([]);
    const wrong = sampleJson(template('{"txt": "{{token}}", "delayMs": {{n}}, "responseBytes": true}'));
    expect(requestProblems(echo, wrong)).toEqual([
      "txt: kannon.target.v1.EchoRequest has no such field (it has text, delayMs, responseBytes)",
      "responseBytes: expected number (uint32), got true",
    ]);
  });

  it("keeps escaped quotes inside strings and a slot standing for a whole message", () => {
    const t = template('{"spec": {"name": "a \\"{{n}}\\" b", "avalanche": {{token}}}}');
    expect(requestProblems(createTest, sampleJson(t))).toEqual([]);
    expect(JSON.parse(sampleJson(t)).spec.name).toMatch(/^a "\uE000slot\uE000" b$/);
  });
});
