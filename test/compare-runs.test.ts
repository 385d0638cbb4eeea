/**
 * `kannon compare` on two real runs of the embedded fleet (`kannon run -f SPEC --data DIR`, the
 * built-in target's flow API on 127.0.0.1): the candidate's `search` step asks the target to wait
 * 250 ms (`?delay=250`), nothing else differs; compare flags that step, not the others, exit 99.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareSpec as spec } from "./compare-spec.js";
import { runKannon as kannon } from "./processes.js";

let dir: string;
let base: string;
let candidate: string;

/** Runs one spec on the embedded fleet, kept in `dir`; returns the test id. */
async function run(name: string, delayMs: number): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, spec(name, delayMs));
  const r = await kannon(["run", "-f", file, "--drivers", "1", "--data", join(dir, "store")]);
  expect(r.code, r.out).toBe(0);
  return r.out.match(/kannon report (\S+) --data/)![1]!;
}

/** The REGRESSED lines of the table's verdict. */
const regressedLines = (out: string) => out.slice(out.indexOf("REGRESSED")).split("\n").slice(1).filter((l) => l.trim());

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-compare-"));
  base = await run("base", 0);
  candidate = await run("candidate", 250);
}, 150_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kannon compare on two real runs", () => {
  const rules = ["--max-regression", "p50=100ms", "--max-regression", "error_rate=0.5pp"];

  it("test ids from --data: the slowed step is flagged and no other step, exit 99", { timeout: 60_000 }, async () => {
    const r = await kannon(["compare", base, candidate, "--data", join(dir, "store"), ...rules]);
    expect(r.code, r.out).toBe(99);
    expect(r.out).toMatch(/^step flow\/search +base/m);
    expect(r.out).toMatch(/^step flow\/login +base/m);
    const lines = regressedLines(r.out);
    expect(lines.some((l) => /^ {2}step flow\/search p50: [\d.]+ ms → [\d.]+ ms, \+[\d.]+ ms worse \(limit p50=100ms\)$/.test(l)), r.out).toBe(true);
    expect(lines.filter((l) => /step flow\/(login|other)/.test(l))).toEqual([]);
    expect(lines.filter((l) => /error_rate|error rate/.test(l))).toEqual([]);
    // Both ways round: the base is faster than the candidate, so nothing regressed.
    const back = await kannon(["compare", candidate, base, "--data", join(dir, "store"), ...rules]);
    expect(back.code, back.out).toBe(0);
    expect(back.out).toContain("no regression beyond p50=100ms, error_rate=0.5pp");
  });

  it("report JSON files (kannon report --format json) give the same verdict, as JSON and HTML too", { timeout: 90_000 }, async () => {
    const files = [join(dir, "base.json"), join(dir, "candidate.json")];
    for (const [id, file] of [[base, files[0]!], [candidate, files[1]!]]) expect((await kannon(["report", id!, "--data", join(dir, "store"), "--format", "json", "--out", file!])).code).toBe(0);
    const json = await kannon(["compare", ...files, ...rules, "--format", "json", "--out", join(dir, "c.json")]);
    expect(json.code, json.out).toBe(99);
    const c = JSON.parse(await readFile(join(dir, "c.json"), "utf8")) as { base: { testId: string }; rows: { kind: string; name: string; stats: Record<string, { base: number; candidate: number }> }[]; regressions: { kind: string; row: string; stat: string }[]; passed: boolean };
    expect(c.base.testId).toBe(base);
    expect(c.passed).toBe(false);
    expect(c.regressions.filter((r) => r.kind === "step").map((r) => `${r.row} ${r.stat}`)).toEqual(["flow/search p50"]);
    const search = c.rows.find((r) => r.name === "flow/search")!.stats;
    expect(search.requests).toEqual({ base: 20, candidate: 20, change: 0 });
    expect(search.p50!.candidate - search.p50!.base).toBeGreaterThan(100_000);
    const html = await kannon(["compare", ...files, ...rules, "--format", "html", "--out", join(dir, "c.html")]);
    expect(html.code, html.out).toBe(99);
    const page = await readFile(join(dir, "c.html"), "utf8");
    expect(page).toMatch(/<tr data-row="step flow\/search" data-side="change">.*data-regressed="p50"/);
    expect(page).not.toMatch(/<tr data-row="step flow\/(login|other)" data-side="change">[^\n]*data-regressed/);
    // A file compared with itself: no change, exit 0.
    expect((await kannon(["compare", files[0]!, files[0]!, ...rules])).code).toBe(0);
  });

  it("a bad rule, a missing file or an unknown test id: exit 2 naming the problem", { timeout: 60_000 }, async () => {
    const bad = await kannon(["compare", base, candidate, "--data", join(dir, "store"), "--max-regression", "p98=10%", "--max-regression", "error_rate=1%"]);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--max-regression "p98=10%": unknown statistic "p98"');
    expect(bad.out).toContain('--max-regression "error_rate=1%": error_rate takes percentage points (e.g. error_rate=0.5pp)');
    const missing = await kannon(["compare", join(dir, "nope.json"), base, "--data", join(dir, "store")]);
    expect(missing.code).toBe(2);
    expect(missing.out).toContain(`BASE ${join(dir, "nope.json")}: no such file`);
    const unknown = await kannon(["compare", base, "no-such-test", "--data", join(dir, "store")]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain('holds no test "no-such-test"');
  });
});
