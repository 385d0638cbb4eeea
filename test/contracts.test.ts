import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const buf = join(root, "node_modules", ".bin", "buf");
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };

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
    const tsc = join(root, "node_modules", ".bin", "tsc");
    for (const project of [root, join(root, "web")]) {
      const result = await run(tsc, ["--noEmit", "-p", project], { cwd: root, env }).catch((err: { stdout?: string }) => err);
      expect("stdout" in result ? result.stdout : "", project).toBe("");
    }
  });

  it("proto/ changes are additions only: buf breaking against the previous commit passes", async (ctx) => {
    const previous = await run("git", ["rev-parse", "--verify", "--quiet", "HEAD~1"], { cwd: root }).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    if (!previous) {
      process.stderr.write("contracts: buf breaking skipped: no previous commit in this clone (shallow?)\n");
      ctx.skip();
    }
    const result = await run(buf, ["breaking", "--against", `.git#ref=${previous}`], { cwd: root, env }).catch((err: { stdout?: string; stderr?: string }) => err);
    expect(("stdout" in result ? result.stdout ?? "" : "") + ("stderr" in result ? result.stderr ?? "" : "")).toBe("");
  });

  it("buf lint is clean", async () => {
    const { stdout, stderr } = await run(buf, ["lint"], { cwd: root, env });
    expect(stdout + stderr).toBe("");
  });
});
