/**
 * Tools built from the Go module proxy (helm for the deploy test, k6 for the scenario bench): taken
 * from PATH, from `${KANNON_CACHE:-~/.cache/kannon}/NAME-VERSION/`, or from `$(go env GOPATH)/bin`;
 * otherwise built once with `go install` into a temporary directory that is renamed into the cache
 * only when the build succeeded. Without Go, the error says what to install.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot } from "./kafka-jars.js";

/** A Go tool: `go install PACKAGE@VERSION` gives BINARY; BINARY VERSION_ARGS exits 0 when it works. */
export interface GoTool {
  binary: string;
  /** The package path to install, e.g. `go.k6.io/k6`. */
  pkg: string;
  version: string;
  /** How long the build usually takes here, said in the log line. */
  about: string;
  /** What makes the binary say its version and exit 0 (default `version`; vegeta: `-version`). */
  versionArgs?: string[];
}

function works(file: string, args = ["version"]): boolean {
  try {
    execFileSync(file, args, { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** The path (or PATH name) of the tool, building it into the cache when it is nowhere. */
export function ensureGoTool(tool: GoTool, log: (m: string) => void = () => {}): string {
  if (works(tool.binary, tool.versionArgs)) return tool.binary;
  const cacheDir = join(cacheRoot(), `${tool.binary}-${tool.version}`);
  let gopathBin: string | undefined;
  try {
    gopathBin = join(execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim(), "bin", tool.binary);
  } catch {
    /* no Go */
  }
  for (const candidate of [join(cacheDir, tool.binary), gopathBin]) if (candidate && existsSync(candidate) && works(candidate, tool.versionArgs)) return candidate;
  if (!gopathBin) throw new Error(`${tool.binary} ${tool.version} is missing and Go is not installed to build it: install ${tool.binary}, or Go and rerun`);
  mkdirSync(cacheRoot(), { recursive: true });
  const tmp = mkdtempSync(join(cacheRoot(), `${tool.binary}-${tool.version}.tmp-`));
  const started = Date.now();
  log(`${tool.binary}: building ${tool.pkg}@${tool.version} with go install into ${cacheDir} (once; ${tool.about})...`);
  try {
    execFileSync("go", ["install", `${tool.pkg}@${tool.version}`], {
      env: { ...process.env, GOBIN: tmp, GOFLAGS: "-mod=mod" },
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 900_000,
    });
    try {
      renameSync(tmp, cacheDir);
    } catch (err) {
      // Another process finished first: its copy is as good as ours.
      if (!existsSync(join(cacheDir, tool.binary))) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`${tool.binary}: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return join(cacheDir, tool.binary);
}
