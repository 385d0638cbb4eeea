/**
 * Holds the TypeScript scenario modules to the shared, hand-written vectors in
 * proto/testdata/scenarios.json (which the Python driver must meet too).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CaptureSchema, CheckSchema } from "../gen/kannon/v1/scenario_pb.js";
import { rowsOfShare } from "./data.js";
import { compileJsonPath, JsonPathError, queryJson } from "./json-path.js";
import { compileCapture, compileCheck, ResponseView, type ResponseLike } from "./response.js";
import { compileTemplate, renderTemplate } from "./template.js";
import { SmoothWeighted } from "./weighted.js";

interface Vectors {
  weighted: { cases: { weights: number[]; picks: number[] }[] };
  templates: {
    context: { row: Record<string, string>; vars: Record<string, string>; driverId: string; iteration: number; nowMs: number; uuid: string; randInt: number[] };
    scope: { columns: string[]; vars: string[] };
    render: { template: string; out: string }[];
    errors: { template: string; at: number[] }[];
  };
  jsonPath: { document: unknown; queries: { query: string; value?: unknown; found?: false }[]; errors: { query: string; at: number }[] };
  responses: {
    responses: Record<string, { status: number; headers: Record<string, string | string[]>; body: string; latencyMs: number }>;
    checks: { response: string; check: JsonValue; pass: boolean }[];
    captures: { response: string; capture: JsonValue; value: string | null }[];
  };
  split: { cases: { rows: number; drivers: number; shares: number[][] }[] };
}

const V = JSON.parse(readFileSync(join(import.meta.dirname, "..", "proto", "testdata", "scenarios.json"), "utf8")) as Vectors;

describe("proto/testdata/scenarios.json", () => {
  it("weighted selection sequences", () => {
    for (const c of V.weighted.cases) {
      const s = new SmoothWeighted(c.weights);
      expect(c.picks.map(() => s.next()), String(c.weights)).toEqual(c.picks);
    }
  });

  it("template rendering and compile errors", () => {
    const t = V.templates;
    const scope = { columns: new Set(t.scope.columns), vars: new Set(t.scope.vars) };
    for (const r of t.render) {
      const draws = [...t.context.randInt];
      const compiled = compileTemplate(r.template, "f", scope);
      if ("problems" in compiled) throw new Error(`${r.template}: ${JSON.stringify(compiled.problems)}`);
      const out = renderTemplate(compiled.template, {
        row: t.context.row,
        vars: new Map(Object.entries(t.context.vars)),
        driverId: t.context.driverId,
        iteration: t.context.iteration,
        nowMs: () => t.context.nowMs,
        uuid: () => t.context.uuid,
        randInt: (min, max) => {
          const v = draws.shift()!;
          expect(v >= min && v <= max, `${v} in ${min}..${max}`).toBe(true);
          return v;
        },
      });
      expect(out, r.template).toBe(r.out);
    }
    for (const e of t.errors) {
      const compiled = compileTemplate(e.template, "f", scope);
      const at = "problems" in compiled ? compiled.problems.map((p) => Number(/at character (\d+)/.exec(p.problem)?.[1])) : [];
      expect(at, e.template).toEqual(e.at);
    }
  });

  it("JSONPath results and compile error positions", () => {
    for (const q of V.jsonPath.queries) {
      const want = q.found === false ? { found: false } : { found: true, value: q.value };
      expect(queryJson(compileJsonPath(q.query), V.jsonPath.document), q.query).toEqual(want);
    }
    for (const e of V.jsonPath.errors) {
      let at: number | undefined;
      try {
        compileJsonPath(e.query);
      } catch (err) {
        if (err instanceof JsonPathError) at = err.position;
      }
      expect(at, e.query).toBe(e.at);
    }
  });

  const response = (name: string): ResponseView => {
    const r = V.responses.responses[name]!;
    const res: ResponseLike = { status: r.status, headers: r.headers, body: new TextEncoder().encode(r.body), latencyMs: r.latencyMs };
    return new ResponseView(res);
  };

  it("check outcomes", () => {
    for (const c of V.responses.checks) {
      const problems: unknown[] = [];
      const compiled = compileCheck(fromJson(CheckSchema, c.check), "f", problems as never);
      expect(problems, JSON.stringify(c.check)).toEqual([]);
      expect(compiled!(response(c.response)), JSON.stringify(c.check)).toBe(c.pass);
    }
  });

  it("capture values", () => {
    for (const c of V.responses.captures) {
      const problems: unknown[] = [];
      const compiled = compileCapture(fromJson(CaptureSchema, c.capture), "f", problems as never);
      expect(problems, JSON.stringify(c.capture)).toEqual([]);
      expect(compiled!(response(c.response)) ?? null, JSON.stringify(c.capture)).toBe(c.value);
    }
  });

  it("exclusive split", () => {
    for (const c of V.split.cases) {
      const rows = Array.from({ length: c.rows }, (_, i) => i);
      expect(c.shares.map((_, s) => rowsOfShare(rows, s, c.drivers))).toEqual(c.shares);
    }
  });
});
