/**
 * Thresholds judged by the orchestrator, end to end through `kannon run` (the embedded fleet, the
 * in-process bus): per step on a target slow on one path only, and a sliding window breached by a
 * target that is slow for a moment only. Every request goes to 127.0.0.1; every run is bounded.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKannon } from "./processes.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-thresholds-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `kannon run`'s summary line of a threshold: pass or FAIL, and the measured value in ms. */
const verdictOf = (out: string, threshold: string) => {
  const line = out.split("\n").find((l) => l.includes(`  ${threshold}: `));
  const m = line ? /(✓ pass|✗ FAIL) {2}.*: ([\d.]+) ms/.exec(line) : null;
  return m ? { pass: m[1] === "✓ pass", ms: Number(m[2]) } : undefined;
};

describe("thresholds", () => {
  it("per step: on a target slow on /delay only, the slow step's threshold fails with its measured value and the others pass; exit 99", { timeout: 90_000 }, async () => {
    const spec = join(dir, "steps.yaml");
    const out = join(dir, "steps.json");
    await writeFile(
      spec,
      [
        "name: per-step thresholds",
        "reportIntervalMs: 500",
        "tsunami: {delayMs: 25, requestsPerDriver: 40}",
        "scenarios:",
        "  - name: flow",
        "    steps:",
        "      - {name: fast, url: /ping, checks: [{name: ok, status: 200}]}",
        "      - {name: slow, url: /delay?ms=120, checks: [{name: ok, status: 200}]}",
        "thresholds:",
        "  - p99{step:slow}<100ms",
        "  - p50{step:slow}>=120ms",
        "  - p99{step:fast}<100ms",
        "  - error_rate{scenario:flow}<1%",
        "  - checks{name:ok}>=100%",
        "  - requests{step:slow}>=40",
        "",
      ].join("\n"),
    );
    const r = await runKannon(["run", "--drivers", "1", "-f", spec, "-o", out]);
    expect(r.code, r.out).toBe(99);
    // The target waits 120 ms on /delay: the slow step measures at least that, the fast one less than 100 ms.
    const slow = verdictOf(r.out, "p99{step:slow}<100ms");
    expect(slow, r.out).toMatchObject({ pass: false });
    expect(slow!.ms).toBeGreaterThanOrEqual(120);
    expect(verdictOf(r.out, "p50{step:slow}>=120ms"), r.out).toMatchObject({ pass: true });
    expect(verdictOf(r.out, "p99{step:fast}<100ms")!.pass, r.out).toBe(true);
    expect(r.out).toMatch(/✓ pass {2}error_rate\{scenario:flow\}<1%: 0\.00%/);
    expect(r.out).toMatch(/✓ pass {2}checks\{name:ok\}>=100%: 100\.00%/);
    expect(r.out).toMatch(/✓ pass {2}requests\{step:slow\}>=40: 40\b/);
    // The stored report (what --out writes, from the orchestrator) carries each result.
    const json = JSON.parse(await readFile(out, "utf8")) as { outcome: { thresholds: { threshold: string; passed?: boolean; measured: number; unit: string }[]; reasons: string[] } };
    expect(json.outcome.thresholds.map((t) => [t.threshold, t.passed ?? false])).toEqual([
      ["p99{step:slow}<100ms", false],
      ["p50{step:slow}>=120ms", true],
      ["p99{step:fast}<100ms", true],
      ["error_rate{scenario:flow}<1%", true],
      ["checks{name:ok}>=100%", true],
      ["requests{step:slow}>=40", true],
    ]);
    expect(json.outcome.thresholds[0]!.measured).toBeGreaterThanOrEqual(120_000);
    expect(json.outcome.reasons.some((x) => x.startsWith("threshold p99{step:slow}<100ms failed: "))).toBe(true);
  });

  it("a threshold naming a step, scenario or check the test does not have is refused before anything runs (exit 2), each listed", async () => {
    const spec = join(dir, "bad.yaml");
    await writeFile(
      spec,
      "tsunami: {delayMs: 25, requestsPerDriver: 4}\nscenarios:\n  - name: flow\n    steps: [{name: fast, url: /ping}]\nthresholds: ['p99{step:login}<1s', 'error_rate{scenario:checkout}<1%', 'checks{name:has-token}>99%', 'p99[100ms]<1s', 'p42<1s']\n",
    );
    const r = await runKannon(["run", "-f", spec]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(`spec.thresholds[0] "p99{step:login}<1s": the test has no step "login" (steps: "fast")`);
    expect(r.out).toContain(`spec.thresholds[1] "error_rate{scenario:checkout}<1%": the test has no scenario "checkout" (scenarios: "flow")`);
    expect(r.out).toContain(`spec.thresholds[2] "checks{name:has-token}>99%": the test has no check "has-token" (checks: none)`);
    expect(r.out).toContain(`spec.thresholds[3] "p99[100ms]<1s": the window 100 ms is shorter than the report interval (1000 ms)`);
    expect(r.out).toContain(`spec.thresholds[4] "p42<1s": unknown statistic "p42"`);
    expect(r.out).not.toContain("started");
  });

  describe("a sliding window", () => {
    /** Answers at once, except from 5 s to 5.4 s after its first request, when it waits 250 ms. */
    let server: Server;
    let url: string;
    let first = 0;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        const now = Date.now();
        if (first === 0) first = now;
        const t = now - first;
        const reply = () => res.end("ok");
        if (t >= 5000 && t < 5400) setTimeout(reply, 250);
        else reply();
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const run = (threshold: string) => {
      first = 0;
      return runKannon(["run", "--drivers", "1", "--url", url, "--workload", "tsunami", "--delay-ms", "20", "--duration-ms", "12000", "--interval-ms", "500", "--threshold", threshold, "--abort-on-fail"]);
    };

    it("breached mid-run aborts the test at the breach (exit 99, CANCELLED, the window and value named); the same bound over the whole run passes", { timeout: 90_000 }, async () => {
      const windowed = await run("p90[1s]<120ms");
      expect(windowed.code, windowed.out).toBe(99);
      expect(windowed.out).toMatch(/threshold p90\[1s\]<120ms breached: [\d.]+ ms over the window [\d.]+–[\d.]+ s/);
      expect(windowed.out).toMatch(/: CANCELLED/);
      expect(windowed.out).toMatch(/aborted \(abort_on_fail\): threshold p90\[1s\]<120ms breached: (2\d\d|3\d\d)\.\d\d ms over the window/);
      expect(windowed.out).toMatch(/✗ FAIL {2}p90\[1s\]<120ms: (2\d\d|3\d\d)\.\d\d ms \(window [\d.]+–[\d.]+ s\) \(breached during the run\)/);
      // Cut short: the 12 s run (600 requests, one every 20 ms) ended soon after the breach at ~5.5 s.
      const sent = Number(/requests: (\d+) /.exec(windowed.out)?.[1]);
      expect(sent, windowed.out).toBeGreaterThan(200);
      expect(sent, windowed.out).toBeLessThan(500);
      const whole = await run("p90<120ms");
      expect(whole.code, whole.out).toBe(0);
      expect(whole.out).toMatch(/: COMPLETED/);
      expect(whole.out).toMatch(/✓ pass {2}p90<120ms: [\d.]+ ms$/m);
    });
  });
});
