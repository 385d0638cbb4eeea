import { describe, expect, it } from "vitest";
import { compileSafeRegex } from "./safe-regex.js";

describe("compileSafeRegex", () => {
  it("compiles ordinary capture and check patterns", () => {
    for (const p of ['"token":"([^"]+)"', "id=(\\d+)", "^HTTP/1\\.[01]$", "(?<id>[a-f0-9]{8})-", "a+b*c?", "(?:abc)+", "(ab)*?x", "[(+*]+", "\\(a+\\)+"]) {
      const r = compileSafeRegex(p);
      expect(r, p).toBeInstanceOf(RegExp);
    }
    expect((compileSafeRegex('"token":"([^"]+)"') as RegExp).exec('{"token":"t1"}')?.[1]).toBe("t1");
  });

  it("refuses backreferences, lookaround and nested quantifiers, naming the position", () => {
    const cases: [string, RegExp][] = [
      ["(a)\\1", /backreference at character 3/],
      ["(?<x>a)\\k<x>", /named backreference at character 7/],
      ["a(?=b)", /lookaround at character 1/],
      ["(?<!a)b", /lookaround at character 0/],
      ["(a+)+$", /nested quantifier at character 4/],
      ["(a|aa)*", /nested quantifier at character 6/],
      ["((\\w+)\\s?)*", /nested quantifier at character 10/],
      ["(x(a*))+", /nested quantifier at character 7/],
      ["(a{2,})*", /nested quantifier at character 7/],
    ];
    for (const [p, why] of cases) expect(compileSafeRegex(p), p).toMatch(why);
  });

  it("reports a pattern that does not compile", () => {
    expect(compileSafeRegex("(ab")).toMatch(/^does not compile: /);
    expect(compileSafeRegex("a{")).toMatch(/^does not compile: /);
  });

  it("a refused classic pattern is one that stalls: (a+)+$ on 25 a's and a b takes over 50 ms unrefused", () => {
    const input = "a".repeat(25) + "b";
    const started = performance.now();
    new RegExp("(a+)+$").test(input);
    expect(performance.now() - started).toBeGreaterThan(50);
    expect(compileSafeRegex("(a+)+$")).toMatch(/nested quantifier/);
  });
});
