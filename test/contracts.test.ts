import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const buf = join(root, "node_modules", ".bin", "buf");
const tsc = join(root, "node_modules", ".bin", "tsc");
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };

/** Runs a tool to its end: its exit code (a failure to start it is an error, not an empty output). */
async function tool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(cmd, args, { cwd: root, env, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: unknown; stdout?: string; stderr?: string; message: string }) => {
      if (typeof err.code !== "number") throw new Error(`could not run ${cmd}: ${err.message}`);
      return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    },
  );
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe("contracts", () => {
  it("gen/ is exactly what `buf generate` makes from proto/ (fails when gen/ is stale)", async () => {
    const out = await mkdtemp(join(tmpdir(), "kannon-gen-"));
    try {
      await run(buf, ["generate", "-o", out], { cwd: root, env });
      const fresh = join(out, "gen");
      const committed = join(root, "gen");
      expect(await files(fresh)).toEqual(await files(committed));
      for (const f of await files(committed))
        expect(await readFile(join(fresh, f), "utf8"), `gen/${f} is stale: run npm run generate`).toBe(await readFile(join(committed, f), "utf8"));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("the TypeScript type-checks under the strict tsconfig (tsc --noEmit), the dashboard's too", async () => {
    for (const [project, own] of [[root, "cli/kannon.ts"], [join(root, "web"), "web/app.ts"]] as const) {
      // --listFiles proves tsc read the project: a tsc that never ran lists nothing and has no exit code 0.
      const r = await tool(tsc, ["--noEmit", "--listFiles", "-p", project]);
      expect(r.stdout.split("\n").filter((l) => /error TS\d+/.test(l)), project).toEqual([]);
      expect(r.code, `tsc -p ${project}: ${r.stderr}`).toBe(0);
      expect(r.stdout.split("\n"), `tsc -p ${project} did not check ${own}`).toContain(join(root, own));
    }
  });

  it("tsc fails on a type error (the check above can fail)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-tsc-"));
    try {
      await writeFile(join(dir, "bad.ts"), "export const n: number = \"one\";\n");
      const r = await tool(tsc, ["--noEmit", "--strict", join(dir, "bad.ts")]);
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/bad\.ts\(1,14\): error TS2322/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("proto/ changes are additions only: buf breaking against the previous commit passes", async (ctx) => {
    const previous = await run("git", ["rev-parse", "--verify", "--quiet", "HEAD~1^{commit}"], { cwd: root }).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    if (!previous) {
      process.stderr.write("contracts: buf breaking skipped: no previous commit in this clone (shallow?)\n");
      ctx.skip();
    }
    // A worktree's .git is a file: ask git where the object store is.
    const gitDir = (await run("git", ["rev-parse", "--path-format=absolute", "--git-common-dir"], { cwd: root })).stdout.trim();
    const r = await tool(buf, ["breaking", "--against", `${gitDir}#ref=${previous}`]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("buf lint is clean", async () => {
    const r = await tool(buf, ["lint"]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("buf lint and buf breaking fail on a bad proto and a removed field (the checks above can fail)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-buf-"));
    try {
      const module = (fields: string) => `syntax = "proto3";\npackage probe.v1;\nmessage Probe {\n${fields}}\n`;
      const modules = { old: "  string name = 1;\n  int64 count = 2;\n", new: "  string name = 1;\n", bad: "  string BadName = 1;\n" };
      for (const [sub, fields] of Object.entries(modules)) {
        await mkdir(join(dir, sub, "probe", "v1"), { recursive: true });
        await writeFile(join(dir, sub, "buf.yaml"), "version: v2\nlint:\n  use: [STANDARD]\nbreaking:\n  use: [FILE]\n");
        await writeFile(join(dir, sub, "probe", "v1", "probe.proto"), module(fields));
      }
      const lint = await tool(buf, ["lint", join(dir, "bad")]);
      expect(lint.code).toBe(100);
      expect(lint.stdout).toMatch(/BadName.*lower_snake_case/);
      const breaking = await tool(buf, ["breaking", join(dir, "new"), "--against", join(dir, "old")]);
      expect(breaking.code).toBe(100);
      expect(breaking.stdout).toMatch(/"2" with name "count" on message "Probe" was deleted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
