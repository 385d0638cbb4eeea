import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CaptureMissing, HeaderOp } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { compileScenarios } from "./compile.js";
import { ResponseView } from "./response.js";
import { renderTemplate } from "./template.js";

const status = (name: string) => ({ name, kind: { case: "status" as const, value: { codes: [200] } } });

describe("compileScenarios", () => {
  const spec = create(TestSpecSchema, {
    targetUrl: "http://127.0.0.1:1",
    scenarios: [
      {
        name: "a",
        weight: 2,
        dataFile: "users",
        steps: [
          {
            name: "login",
            method: "post",
            url: "/login",
            body: '{"u":"{{row.user}}"}',
            captures: [{ name: "token", source: { case: "jsonPath", value: "$.token" } }],
            onCaptureMissing: CaptureMissing.ABORT_ITERATION,
            checks: [status("ok")],
            thinkTime: { kind: { case: "constantMs", value: 30 } },
          },
          {
            name: "me",
            url: "/me",
            headers: { authorization: "Bearer {{token}}" },
            checks: [{ name: "h", kind: { case: "header", value: { name: "x", op: HeaderOp.EQUALS, value: "1" } } }],
            abortIterationOnFail: true,
            thinkTime: { kind: { case: "uniform", value: { minMs: 5, maxMs: 9 } } },
          },
        ],
      },
      { name: "b", weight: 1, steps: [{ name: "ping", url: "http://127.0.0.1:1/ping", checks: [{ name: "fast", kind: { case: "latencyBelowMs", value: 10 } }] }] },
    ],
  });
  const columns = (file: string) => (file === "users" ? new Set(["user"]) : undefined);

  it("flattens the steps in order with their index, and reads every field a driver runs", () => {
    const { scenarios, problems } = compileScenarios(spec, columns);
    expect(problems).toEqual([]);
    expect(scenarios.map((s) => [s.index, s.name, s.weight, s.dataFile])).toEqual([
      [0, "a", 2, "users"],
      [1, "b", 1, undefined],
    ]);
    const [login, me] = scenarios[0]!.steps;
    const ping = scenarios[1]!.steps[0]!;
    expect([login, me, ping].map((s) => [s!.index, s!.scenarioIndex, s!.name, s!.method])).toEqual([
      [0, 0, "login", "POST"],
      [1, 0, "me", "GET"],
      [2, 1, "ping", "GET"],
    ]);
    // What each step keeps of a response: a JSONPath capture reads the body, a header check the headers, status and latency neither.
    expect([login!.keep, me!.keep, ping.keep]).toEqual([
      { body: true, headers: false },
      { body: false, headers: true },
      { body: false, headers: false },
    ]);
    expect([login!.think, me!.think, ping.think]).toEqual([{ minMs: 30, maxMs: 30 }, { minMs: 5, maxMs: 9 }, undefined]);
    expect([login!.abortOnCaptureMissing, login!.abortOnFail, me!.abortOnFail, me!.abortOnCaptureMissing]).toEqual([true, false, true, false]);
    expect(login!.body && renderTemplate(login!.body, { row: { user: "ann" }, vars: new Map(), driverId: "d", iteration: 0, nowMs: () => 0, uuid: () => "u", randInt: () => 1 })).toBe('{"u":"ann"}');
    expect(me!.headers.map(([n, t]) => [n, renderTemplate(t, { vars: new Map([["token", "T"]]), driverId: "d", iteration: 0, nowMs: () => 0, uuid: () => "u", randInt: () => 1 })])).toEqual([["authorization", "Bearer T"]]);
    const view = new ResponseView({ status: 200, headers: {}, body: new TextEncoder().encode('{"token":"t1"}'), latencyMs: 12 });
    expect(login!.checks.map((c) => [c.name, c.test(view)])).toEqual([["ok", true]]);
    expect(login!.captures.map((c) => [c.name, c.take(view)])).toEqual([["token", "t1"]]);
    expect(ping.checks[0]!.test(view)).toBe(false);
  });

  it("a data file the driver does not hold is a problem naming the scenario's field", () => {
    const { problems } = compileScenarios(spec, () => undefined);
    expect(problems).toContainEqual({ field: "spec.scenarios[0].data_file", problem: 'names no data file: "users"' });
  });
});
