/**
 * The npm package, as a user gets it: `npm pack` (its prepack builds dist/), installed with
 * `npm install -g` into an empty prefix, then the installed `kannon` run from outside the
 * repository: its version, a short demo against its built-in target (the report read back from
 * --out), and the installed tree holds no tsx, esbuild or TypeScript.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installPackage, type InstalledPackage } from "./installed-package.js";
import { startKannon, type KannonProcess } from "./processes.js";

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

  it("builds the HTTPS record layer at install and its dist modules load it", async () => {
    expect(existsSync(join(installed, "native", "build", "tls-record.node"))).toBe(true);
    const module = pathToFileURL(join(installed, "dist", "driver", "transport", "tls-record.js")).href;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(module)}); console.log(typeof m.nativeRecordLayer?.seal)`], { cwd: scratch });
    expect(stdout.trim()).toBe("function");
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
    const { proc, match } = await startKannon(["orchestrator", "--port", "0", "--data", join(scratch, "orchestrator-data")], /listening on (http:\/\/\S+?) /, 20_000, { bin: kannon, cwd: scratch });
    try {
      const url = match[1]!;
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("/ui/app.js");
      const app = await fetch(`${url}/ui/app.js`);
      expect(app.status).toBe(200);
      expect(app.headers.get("content-type")).toContain("javascript");
      expect(await app.text()).toBe(await readFile(join(installed, "dist", "web", "app.js"), "utf8"));
      expect((await fetch(`${url}/ui/uplot.css`)).status).toBe(200);
    } finally {
      await proc.stop("SIGTERM");
    }
  });

  it("keeps a run's report in --data for kannon tests and kannon report, all from the installed command", async () => {
    const data = join(scratch, "run-data");
    const out = join(scratch, "kept.json");
    await run(kannon, ["run", "--drivers", "1", "-n", "40", "-c", "2", "--data", data, "--out", out], { cwd: scratch, timeout: 60_000 });
    const id = (JSON.parse(await readFile(out, "utf8")) as { testId: string }).testId;
    expect(id).not.toBe("");
    const tests = await run(kannon, ["tests", "--data", data], { cwd: scratch, timeout: 30_000 });
    expect(tests.stdout).toContain(id);
    const csv = await run(kannon, ["report", id, "--data", data, "--format", "csv"], { cwd: scratch, timeout: 30_000 });
    const [header, ...rows] = csv.stdout.trim().split("\n");
    expect(header).toContain("requests");
    const column = header!.split(",").indexOf("requests");
    expect(rows.reduce((sum, r) => sum + Number(r.split(",")[column]), 0)).toBe(40);
  });

  it("runs kannon test against a kannon run --stay fleet and an installed kannon target", async () => {
    const started: KannonProcess[] = [];
    const start = async (args: string[], ready: RegExp) => {
      const { proc, match } = await startKannon(args, ready, 30_000, { bin: kannon, cwd: scratch });
      started.push(proc);
      return match;
    };
    try {
      const target = (await start(["target", "--port", "0"], /listening on (http:\/\/\S+)/))[1]!;
      const api = (await start(["run", "--stay", "--drivers", "2", "-n", "10", "-c", "1", "--port", "0"], /the API is at (http:\/\/\S+)/))[1]!;
      const before = (await (await fetch(`${target}/metrics`)).json()) as { requests: number };
      const out = join(scratch, "test.json");
      await run(kannon, ["test", "--api", api, "--url", `${target}/ping`, "-n", "25", "-c", "2", "--out", out], { cwd: scratch, timeout: 60_000 });
      const after = (await (await fetch(`${target}/metrics`)).json()) as { requests: number };
      const report = JSON.parse(await readFile(out, "utf8")) as { state: string; total: { requests: string } };
      expect(report.state).toBe("TEST_STATE_COMPLETED");
      expect(report.total.requests).toBe("50");
      expect(after.requests - before.requests).toBe(50);
    } finally {
      await Promise.all(started.map((p) => p.stop("SIGTERM")));
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
