/**
 * The Python environment (Python driver, generated Python code, Python clients): a venv outside the
 * repository at `${KANNON_CACHE:-~/.cache/kannon}/python-venv`, with the exact pins of
 * python/requirements.txt and the package python/ (pyproject.toml) installed into it with pip, a
 * real install (not editable): its `kannon-driver` command is what a user of `pip install ./python`
 * gets. pip builds a copy of the package's files in the cache, so no build/ or *.egg-info appears in
 * the repository.
 *
 * Idempotent: one stamp holds the hash of requirements.txt and the interpreter's version (the venv is
 * rebuilt when it changes), another the hash of the package's files (the package is reinstalled when
 * they change). Several processes may ask at once (test runs of different people): a lock directory
 * makes them wait for one builder.
 *
 *   npm run python-env            create/update it; prints the venv's python path as the last line
 *
 * The interpreter is `$KANNON_PYTHON` when set, else the first of python3.13 … python3.10, python3
 * that is at least 3.10.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, run, tail } from "./kafka-jars.js";

/** python/requirements.txt. */
export const REQUIREMENTS = fileURLToPath(new URL("../python/requirements.txt", import.meta.url));

/** python/: the package the venv installs. */
export const PACKAGE_DIR = fileURLToPath(new URL("../python/", import.meta.url));

/** What of python/ makes the package (tests/ and examples/ stay in the repository). */
const PACKAGE_PARTS = ["pyproject.toml", "kannon_driver", "kannon_gen"];

/** `${KANNON_CACHE:-~/.cache/kannon}/python-venv`. */
export function pythonVenvDir(): string {
  return join(cacheRoot(), "python-venv");
}

/** The venv's interpreter. */
export function venvPython(): string {
  return join(pythonVenvDir(), "bin", "python");
}

/** The installed package's console script. */
export function venvDriver(): string {
  return join(pythonVenvDir(), "bin", "kannon-driver");
}

/** The venv's interpreter and the installed `kannon-driver` command. */
export interface PythonEnv {
  python: string;
  driver: string;
}

const STAMP = ".kannon-stamp";
const PACKAGE_STAMP = ".kannon-package-stamp";
const LOCK_WAIT_MS = 15 * 60_000;

let ensuring: Promise<PythonEnv> | undefined;

/** Creates or updates the venv and its installed package when needed. */
export function ensurePythonEnv(log: (m: string) => void = () => {}): Promise<PythonEnv> {
  ensuring ??= ensure(log).finally(() => {
    ensuring = undefined;
  });
  return ensuring;
}

async function ensure(log: (m: string) => void): Promise<PythonEnv> {
  const base = await findBasePython();
  const want = await wantedStamp(base);
  const wantPackage = await packageStamp();
  const venv = pythonVenvDir();
  const done: PythonEnv = { python: venvPython(), driver: venvDriver() };
  const upToDate = async () => (await readStamp(venv, STAMP)) === want && (await readStamp(venv, PACKAGE_STAMP)) === wantPackage;
  if (await upToDate()) return done;

  await mkdir(cacheRoot(), { recursive: true });
  const release = await lock(`${venv}.lock`, log);
  try {
    // Someone else may have built it while we waited for the lock.
    if (await upToDate()) return done;
    const started = Date.now();
    if ((await readStamp(venv, STAMP)) !== want) {
      log(`python-env: building ${venv} from python/requirements.txt (${base.version})...`);
      await rm(venv, { recursive: true, force: true });
      await must(base.path, ["-m", "venv", venv], 5 * 60_000, "create the venv");
      await must(
        venvPython(),
        ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", REQUIREMENTS],
        15 * 60_000,
        "install python/requirements.txt",
      );
      // Written after the install: a half-built venv is never taken as done.
      await writeFile(join(venv, STAMP), want);
    }
    log("python-env: installing the package python/ (kannon-driver) into the venv...");
    await installPackage();
    await writeFile(join(venv, PACKAGE_STAMP), wantPackage);
    log(`python-env: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return done;
  } finally {
    await release();
  }
}

/**
 * pip-installs a copy of the package's files (pip builds in the source folder, writing build/ and
 * *.egg-info there). Offline: setuptools comes from the venv (--no-build-isolation) and the
 * dependencies must already be met by requirements.txt (--no-index), which checks the floors.
 */
async function installPackage(): Promise<void> {
  const copy = await mkdtemp(join(cacheRoot(), "python-package-"));
  try {
    for (const part of PACKAGE_PARTS) await cp(join(PACKAGE_DIR, part), join(copy, part), { recursive: true, filter: (src) => !isBytecode(src) });
    await must(
      venvPython(),
      ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "--no-index", "--no-build-isolation", "--force-reinstall", "--no-deps", copy],
      5 * 60_000,
      "install the package python/",
    );
    await must(venvPython(), ["-m", "pip", "check"], 60_000, "meet the package's dependencies with python/requirements.txt");
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** The hash of the package's files (their paths and bytes), bytecode aside. */
async function packageStamp(): Promise<string> {
  const hash = createHash("sha256");
  const files: string[] = [];
  for (const part of PACKAGE_PARTS) {
    const path = join(PACKAGE_DIR, part);
    const entries = (await stat(path)).isFile() ? [path] : (await readdir(path, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    files.push(...entries.filter((f) => !isBytecode(f)));
  }
  for (const f of files.sort()) hash.update(`${relative(PACKAGE_DIR, f)}\0`).update(await readFile(f)).update("\0");
  return `${hash.digest("hex")}\n`;
}

function isBytecode(path: string): boolean {
  return path.includes("__pycache__") || path.endsWith(".pyc");
}

async function must(cmd: string, args: string[], timeoutMs: number, what: string): Promise<void> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`python-env: could not ${what}: ${cmd} exited with ${r.code}\n${tail(r.output, 40)}`);
}

async function wantedStamp(base: { version: string }): Promise<string> {
  const req = await readFile(REQUIREMENTS);
  return `${createHash("sha256").update(req).digest("hex")} ${base.version}\n`;
}

async function readStamp(venv: string, name: string): Promise<string | undefined> {
  try {
    const s = await readFile(join(venv, name), "utf8");
    return existsSync(venvPython()) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The interpreter the venv is built from: `$KANNON_PYTHON` or the first Python ≥ 3.10 on PATH. */
async function findBasePython(): Promise<{ path: string; version: string }> {
  const explicit = process.env.KANNON_PYTHON?.trim();
  const candidates = explicit ? [explicit] : ["python3.13", "python3.12", "python3.11", "python3.10", "python3"];
  const probe = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3]); print(sys.version_info >= (3, 10))";
  for (const c of candidates) {
    let r;
    try {
      r = await run(c, ["-c", probe], 30_000);
    } catch {
      continue; // not installed
    }
    const [path, version, ok] = r.stdout.trim().split("\n");
    if (r.code === 0 && ok === "True" && path) return { path, version: `Python ${version}` };
  }
  throw new Error(
    explicit
      ? `python-env: KANNON_PYTHON=${explicit} is not a Python >= 3.10`
      : "python-env: no Python >= 3.10 found (tried python3.13 … python3.10, python3); set KANNON_PYTHON",
  );
}

/** A lock directory holding the owner's pid; a lock whose owner is gone is taken over. */
async function lock(dir: string, log: (m: string) => void): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let said = false;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(join(dir, "pid"), String(process.pid));
      return () => rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number(await readFile(join(dir, "pid"), "utf8").catch(() => ""));
    if (owner > 0 && !alive(owner)) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`python-env: ${dir} is still held by pid ${owner || "?"}`);
    if (!said) {
      log(`python-env: waiting for another process (pid ${owner || "?"}) building the venv...`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensurePythonEnv((m) => process.stderr.write(`${m}\n`)).then(
    ({ python }) => process.stdout.write(`${python}\n`),
    (err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  );
}
