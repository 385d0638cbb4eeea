/**
 * The npm package, as a user gets it: `npm pack` (its prepack builds dist/), installed with
 * `npm install -g` into an empty prefix, then the installed `kannon` run from outside the
 * repository: its version, a short demo against its built-in target (the report read back from
 * --out), and the installed tree holds no tsx, esbuild or TypeScript.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installPackage, type InstalledPackage } from "./installed-package.js";

const run = promisify(execFile);
let pkg: InstalledPackage | undefined;
let scratch = "";
let kannon = "";
let installed = "";

beforeAll(async () => {
  pkg = await installPackage();
  ({ scratch, kannon, installed } = pkg);
}, 240_000);

afterAll(async () => {
  await pkg?.remove();
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

  it("serves the dashboard prebuilt at build time from kannon orchestrator", async () => {
    const child = spawn(kannon, ["orchestrator", "--port", "0", "--data", join(scratch, "orchestrator-data")], { cwd: scratch, stdio: ["ignore", "pipe", "pipe"] });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" in 20 s: ${out}`)), 20_000);
        const read = (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+?) /.exec(out);
          if (m) (clearTimeout(timer), resolve(m[1]!));
        };
        child.stdout.on("data", read);
        child.stderr.on("data", read);
        child.on("exit", (code) => (clearTimeout(timer), reject(new Error(`exited ${code}: ${out}`))));
      });
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("/ui/app.js");
      const app = await fetch(`${url}/ui/app.js`);
      expect(app.status).toBe(200);
      expect(app.headers.get("content-type")).toContain("javascript");
      expect(await app.text()).toBe(await readFile(join(installed, "dist", "web", "app.js"), "utf8"));
      expect((await fetch(`${url}/ui/uplot.css`)).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    }
  });

  it("stops a Node older than 20.19 with one line naming its version", async () => {
    const pretend = `data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"20.18.3"}})`;
    const failed = await run(process.execPath, ["--import", pretend, join(installed, "dist", "cli", "bin.mjs"), "--version"], { cwd: scratch }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr.trim().split("\n")).toEqual([expect.stringContaining("Node 20.18.3 is too old")]);
  });
});
