/**
 * The npm package as a user gets it: `npm pack` (its prepack builds dist/), installed with
 * `npm install -g` into an empty prefix. Used by the package test and by the multi-host test,
 * whose processes run the installed `kannon`, not the repository.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");

/** An installed package: remove it with `remove()`. */
export interface InstalledPackage {
  /** A scratch directory outside the repository (the tarball, the prefix; a fine cwd). */
  scratch: string;
  /** The installed `kannon` command (prefix/bin/kannon). */
  kannon: string;
  /** The installed package's own folder (prefix/lib/node_modules/kannon). */
  installed: string;
  remove(): Promise<void>;
}

/** Packs the repository and installs the tarball into a fresh prefix (about 10–20 s). */
export async function installPackage(): Promise<InstalledPackage> {
  const scratch = await mkdtemp(join(tmpdir(), "kannon-package-"));
  try {
    const version = (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version;
    await run("npm", ["pack", "--pack-destination", scratch], { cwd: root, timeout: 120_000 });
    const prefix = join(scratch, "prefix");
    await run("npm", ["install", "-g", "--no-audit", "--no-fund", "--prefix", prefix, join(scratch, `kannon-${version}.tgz`)], { cwd: scratch, timeout: 120_000 });
    return {
      scratch,
      kannon: join(prefix, "bin", "kannon"),
      installed: join(prefix, "lib", "node_modules", "kannon"),
      remove: () => rm(scratch, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}
