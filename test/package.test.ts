/**
 * The npm package, as a user gets it: `npm pack` (its prepack builds dist/), installed with
 * `npm install -g` into an empty prefix, then the installed `kannon` run from outside the
 * repository: its version, a short demo against its built-in target (the report read back from
 * --out), and the installed tree holds no tsx, esbuild or TypeScript.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
let scratch = "";
let kannon = "";
let installed = "";

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "kannon-package-"));
  const version = (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version;
  await run("npm", ["pack", "--pack-destination", scratch], { cwd: root, timeout: 60_000 });
  const prefix = join(scratch, "prefix");
  await run("npm", ["install", "-g", "--no-audit", "--no-fund", "--prefix", prefix, join(scratch, `kannon-${version}.tgz`)], { cwd: scratch, timeout: 60_000 });
  kannon = join(prefix, "bin", "kannon");
  installed = join(prefix, "lib", "node_modules", "kannon");
}, 120_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("the installed npm package", () => {
  it("prints its version and holds no run-time TypeScript tooling", async () => {
    const { stdout } = await run(kannon, ["--version"], { cwd: scratch });
    expect(stdout).toMatch(/^kannon \d+\.\d+\.\d+ \(node v\d+/);
    const modules = await readdir(join(installed, "node_modules"));
    expect(modules).toContain("kafkajs");
    for (const dev of ["tsx", "esbuild", "typescript", "vitest"]) expect(modules).not.toContain(dev);
    expect(existsSync(join(installed, "dist", "web", "app.js"))).toBe(true);
  });

  it("runs a short demo against its built-in target and writes the report", async () => {
    const out = join(scratch, "report.json");
    await run(kannon, ["run", "--drivers", "2", "-n", "150", "-c", "4", "--out", out], { cwd: scratch, timeout: 60_000 });
    const report = JSON.parse(await readFile(out, "utf8")) as { state: string; total: { requests: string; errors: string }; drivers: unknown[] };
    expect(report.state).toBe("TEST_STATE_COMPLETED");
    expect(report.total.requests).toBe("300");
    expect(report.total.errors).toBe("0");
    expect(report.drivers).toHaveLength(2);
  });
});
