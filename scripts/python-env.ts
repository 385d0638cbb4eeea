/**
 * The Python environment (Python driver, generated Python code, Python clients), outside the
 * repository in `${KANNON_CACHE:-~/.cache/kannon}`, in two layers:
 *
 * - `python-base/`: a venv with the exact pins of python/requirements.txt (rebuilt when they or the
 *   interpreter's version change; one stamp holds both);
 * - `python-pkg/<hash>/`: a venv per content of the package python/ (pyproject.toml, kannon_driver,
 *   kannon_gen), which sees the base's site-packages through a .pth file and has the package
 *   pip-installed into it, a real install (not editable): its `kannon-driver` command is what a user
 *   of `pip install ./python` gets. Taken as done only once a marker is written after the install,
 *   and never changed once done.
 *
 * Several checkouts share the cache (git worktrees, an older commit under test): each one's python/
 * has a venv of its own, so one checkout's install never replaces the files another's tests read
 * (one shared venv, reinstalled by whichever checkout asked last, made test/mixed-fleet.test.ts
 * find files of another checkout's python/). Package venvs unused for a week are removed. A lock
 * directory makes concurrent builders wait for one another.
 *
 *   npm run python-env            create/update it; prints the package venv's python path as the last line
 *
 * The interpreter is `$KANNON_PYTHON` when set, else the first of python3.13 … python3.10, python3
 * that is at least 3.10.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, run, tail } from "./kafka-jars.js";

/** python/requirements.txt. */
export const REQUIREMENTS = fileURLToPath(new URL("../python/requirements.txt", import.meta.url));

/** python/: the package the venv installs. */
export const PACKAGE_DIR = fileURLToPath(new URL("../python/", import.meta.url));

/** What of python/ makes the package (tests/ and examples/ stay in the repository). */
const PACKAGE_PARTS = ["pyproject.toml", "kannon_driver", "kannon_gen"];

/** `${KANNON_CACHE:-~/.cache/kannon}/python-base`: the venv of python/requirements.txt. */
export function pythonBaseDir(): string {
  return join(cacheRoot(), "python-base");
}

/** `${KANNON_CACHE:-~/.cache/kannon}/python-pkg`: one venv per content of the package python/. */
function packageVenvsDir(): string {
  return join(cacheRoot(), "python-pkg");
}

/** The package venv's interpreter and its installed `kannon-driver` command. */
export interface PythonEnv {
  python: string;
  driver: string;
}

const STAMP = ".kannon-stamp";
const READY = ".kannon-ready";
const LOCK_WAIT_MS = 15 * 60_000;
const UNUSED_MS = 7 * 24 * 3600_000;

let ensuring: Promise<PythonEnv> | undefined;

/** Creates the base venv and this checkout's package venv when needed; the package venv's paths. */
export function ensurePythonEnv(log: (m: string) => void = () => {}): Promise<PythonEnv> {
  ensuring ??= ensure(log).finally(() => {
    ensuring = undefined;
  });
  return ensuring;
}

async function ensure(log: (m: string) => void): Promise<PythonEnv> {
  const base = await findBasePython();
  const want = await wantedStamp(base);
  const pkgVenv = join(packageVenvsDir(), (await packageHash()).slice(0, 16));
  const done: PythonEnv = { python: join(pkgVenv, "bin", "python"), driver: join(pkgVenv, "bin", "kannon-driver") };
  const baseDir = pythonBaseDir();
  const upToDate = async () => (await readStamp(baseDir, STAMP)) === want && existsSync(join(pkgVenv, READY));
  if (await upToDate()) return used(pkgVenv, done);

  await mkdir(packageVenvsDir(), { recursive: true });
  const release = await lock(join(cacheRoot(), "python-env.lock"), log);
  try {
    // Someone else may have built it while we waited for the lock.
    if (await upToDate()) return used(pkgVenv, done);
    const started = Date.now();
    if ((await readStamp(baseDir, STAMP)) !== want) {
      log(`python-env: building ${baseDir} from python/requirements.txt (${base.version})...`);
      await rm(baseDir, { recursive: true, force: true });
      await must(base.path, ["-m", "venv", baseDir], 5 * 60_000, "create the venv");
      await must(
        join(baseDir, "bin", "python"),
        ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", REQUIREMENTS],
        15 * 60_000,
        "install python/requirements.txt",
      );
      // Written after the install: a half-built venv is never taken as done.
      await writeFile(join(baseDir, STAMP), want);
      // Package venvs over the previous base's packages go with it.
      await rm(packageVenvsDir(), { recursive: true, force: true });
      await mkdir(packageVenvsDir(), { recursive: true });
    }
    if (!existsSync(join(pkgVenv, READY))) {
      log(`python-env: installing the package python/ (kannon-driver) into ${pkgVenv}...`);
      await buildPackageVenv(base.path, pkgVenv);
    }
    await pruneUnused(pkgVenv);
    log(`python-env: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return used(pkgVenv, done);
  } finally {
    await release();
  }
}

/** Marks a package venv as used now (pruning goes by this time). */
async function used(pkgVenv: string, env: PythonEnv): Promise<PythonEnv> {
  const now = new Date();
  await utimes(join(pkgVenv, READY), now, now).catch(() => {});
  return env;
}

/** Removes package venvs unused for a week (never `keep`). */
async function pruneUnused(keep: string): Promise<void> {
  for (const name of await readdir(packageVenvsDir())) {
    const dir = join(packageVenvsDir(), name);
    if (dir === keep) continue;
    const at = await stat(join(dir, READY)).then((s) => s.mtimeMs, () => 0);
    const age = Date.now() - (at || (await stat(dir).then((s) => s.mtimeMs, () => Date.now())));
    if (age > UNUSED_MS) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A venv at `dest` seeing the base venv's packages (a .pth file), with a copy of the package's
 * files pip-installed into it (pip builds in the source folder, writing build/ and *.egg-info
 * there). Offline: pip and setuptools come from the base (--no-build-isolation) and the
 * dependencies must already be met by requirements.txt (--no-index), which pip check confirms.
 */
async function buildPackageVenv(basePython: string, dest: string): Promise<void> {
  // Built in place (pip writes the venv's path into kannon-driver), taken as done only by READY.
  const building = dest;
  const copy = await mkdtemp(join(cacheRoot(), "python-package-"));
  try {
    await rm(building, { recursive: true, force: true });
    await must(basePython, ["-m", "venv", "--without-pip", building], 5 * 60_000, "create the package venv");
    const py = join(building, "bin", "python");
    const purelib = ["-c", "import sysconfig; print(sysconfig.get_path('purelib'))"];
    const own = (await must(py, purelib, 60_000, "find the package venv's site-packages")).trim();
    const shared = (await must(join(pythonBaseDir(), "bin", "python"), purelib, 60_000, "find the base venv's site-packages")).trim();
    await writeFile(join(own, "kannon-base.pth"), `${shared}\n`);
    for (const part of PACKAGE_PARTS) await cp(join(PACKAGE_DIR, part), join(copy, part), { recursive: true, filter: (src) => !isBytecode(src) });
    await must(py, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "--no-index", "--no-build-isolation", "--no-deps", copy], 5 * 60_000, "install the package python/");
    await must(py, ["-m", "pip", "check"], 60_000, "meet the package's dependencies with python/requirements.txt");
    await writeFile(join(building, READY), "");
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** The hash of the package's files (their paths and bytes), bytecode aside. */
async function packageHash(): Promise<string> {
  const hash = createHash("sha256");
  const files: string[] = [];
  for (const part of PACKAGE_PARTS) {
    const path = join(PACKAGE_DIR, part);
    const entries = (await stat(path)).isFile() ? [path] : (await readdir(path, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    files.push(...entries.filter((f) => !isBytecode(f)));
  }
  for (const f of files.sort()) hash.update(`${relative(PACKAGE_DIR, f)}\0`).update(await readFile(f)).update("\0");
  return hash.digest("hex");
}

function isBytecode(path: string): boolean {
  return path.includes("__pycache__") || path.endsWith(".pyc");
}

/** Runs a command that must succeed; its stdout. */
async function must(cmd: string, args: string[], timeoutMs: number, what: string): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`python-env: could not ${what}: ${cmd} exited with ${r.code}\n${tail(r.output, 40)}`);
  return r.stdout;
}

async function wantedStamp(base: { version: string }): Promise<string> {
  const req = await readFile(REQUIREMENTS);
  return `${createHash("sha256").update(req).digest("hex")} ${base.version}\n`;
}

async function readStamp(venv: string, name: string): Promise<string | undefined> {
  try {
    const s = await readFile(join(venv, name), "utf8");
    return existsSync(join(venv, "bin", "python")) ? s : undefined;
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
