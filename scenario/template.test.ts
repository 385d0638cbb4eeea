import { describe, expect, it } from "vitest";
import { compileTemplate, renderTemplate, type RenderContext, type Template } from "./template.js";

const scope = { columns: new Set(["user", "pass"]), vars: new Set(["token"]) };
const ctx: RenderContext = {
  row: { user: "ann", pass: "p w" },
  vars: new Map([["token", "T0K"]]),
  driverId: "driver-2",
  iteration: 41,
  nowMs: () => 1_700_000_000_123,
  uuid: () => "00000000-0000-4000-8000-000000000001",
  randInt: (min, max) => max * 10 + min,
};

function ok(text: string): Template {
  const r = compileTemplate(text, "f", scope);
  if ("problems" in r) throw new Error(JSON.stringify(r.problems));
  return r.template;
}

describe("compileTemplate / renderTemplate", () => {
  it("splits literals and slots once, and renders every kind of slot", () => {
    const t = ok("/u/{{row.user}}?t={{ token }}&id={{uuid}}&n={{randInt 1 100}}&d={{driverId}}&i={{iteration}}&at={{nowMs}}");
    expect(t.literals).toEqual(["/u/", "?t=", "&id=", "&n=", "&d=", "&i=", "&at=", ""]);
    expect(t.slots.map((s) => s.kind)).toEqual(["row", "var", "uuid", "randInt", "driverId", "iteration", "nowMs"]);
    expect(renderTemplate(t, ctx)).toBe("/u/ann?t=T0K&id=00000000-0000-4000-8000-000000000001&n=1001&d=driver-2&i=41&at=1700000000123");
  });

  it("keeps text without slots as one literal, and inserts values unescaped", () => {
    expect(ok("plain {text}")).toEqual({ literals: ["plain {text}"], slots: [] });
    expect(renderTemplate(ok('{"p":"{{row.pass}}"}'), ctx)).toBe('{"p":"p w"}');
  });

  it("renders a missing capture or column as the empty string", () => {
    expect(renderTemplate(ok("a{{token}}b"), { ...ctx, vars: new Map() })).toBe("ab");
    expect(renderTemplate(ok("a{{row.user}}b"), { ...ctx, row: {} })).toBe("ab");
  });

  it("returns every problem with the field and the character position", () => {
    const r = compileTemplate("{{nope}} {{row.age}} {{randInt 5 1}} {{randInt x}} {{ }} {{unclosed", "spec.scenarios[0].steps[1].url", scope);
    expect("problems" in r && r.problems.map((p) => p.field)).toEqual(Array(6).fill("spec.scenarios[0].steps[1].url"));
    const text = "problems" in r ? r.problems.map((p) => p.problem) : [];
    expect(text[0]).toMatch(/^\{\{nope\}\} at character 0: unknown name "nope"/);
    expect(text[1]).toMatch(/at character 9: the data file has no column "age" \(it has "user", "pass"\)/);
    expect(text[2]).toMatch(/at character 21: randInt's first bound must not exceed its second \(5 > 1\)/);
    expect(text[3]).toMatch(/randInt takes two integers/);
    expect(text[4]).toMatch(/a slot holds one name/);
    expect(text[5]).toMatch(/"\{\{" at character 57 is never closed/);
  });

  it("refuses row.COLUMN when the scenario has no data file", () => {
    const r = compileTemplate("{{row.user}}", "f", { vars: new Set() });
    expect("problems" in r && r.problems[0]!.problem).toMatch(/has no data_file/);
  });
});
