/**
 * The Python environment (Python driver, generated Python code, Python clients): a venv outside the
 * repository at `${KANNON_CACHE:-~/.cache/kannon}/python-venv`, with the exact pins of
 * python/requirements.txt. Idempotent: a stamp holds the hash of requirements.txt (and the
 * interpreter's version); the venv is rebuilt only when that changes. Several processes may ask at
 * once (test runs of different people): a lock directory makes them wait for one builder.
 *
 *   npm run python-env            create/update it; prints the venv's python path as the last line
 *
 * The interpreter is `$KANNON_PYTHON` when set, else the first of python3.13 … python3.10, python3
 * that is at least 3.10.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, run, tail } from "./kafka-jars.js";

/** python/requirements.txt. */
export const REQUIREMENTS = fileURLToPath(new URL("../python/requirements.txt", import.meta.url));

/** `${KANNON_CACHE:-~/.cache/kannon}/python-venv`. */
export function pythonVenvDir(): string {
  return join(cacheRoot(), "python-venv");
}

/** The venv's interpreter. */
export function venvPython(): string {
  return join(pythonVenvDir(), "bin", "python");
}

const STAMP = ".kannon-stamp";
const LOCK_WAIT_MS = 15 * 60_000;

let ensuring: Promise<{ python: string }> | undefined;

/** Creates or updates the venv when needed and returns its interpreter's path. */
export function ensurePythonEnv(log: (m: string) => void = () => {}): Promise<{ python: string }> {
  ensuring ??= ensure(log).finally(() => {
    ensuring = undefined;
  });
  return ensuring;
}

async function ensure(log: (m: string) => void): Promise<{ python: string }> {
  const base = await findBasePython();
  const want = await wantedStamp(base);
  const venv = pythonVenvDir();
  if ((await readStamp(venv)) === want) return { python: venvPython() };

  await mkdir(cacheRoot(), { recursive: true });
  const release = await lock(`${venv}.lock`, log);
  try {
    // Someone else may have built it while we waited for the lock.
    if ((await readStamp(venv)) === want) return { python: venvPython() };
    const started = Date.now();
    log(`python-env: building ${venv} from python/requirements.txt (${base.version})...`);
    await rm(venv, { recursive: true, force: true });
    await must(base.path, ["-m", "venv", venv], 5 * 60_000, "create the venv");
    await must(
      venvPython(),
      ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", REQUIREMENTS],
      15 * 60_000,
      "install python/requirements.txt",
    );
    // Written last: a half-built venv is never taken as done.
    await writeFile(join(venv, STAMP), want);
    log(`python-env: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { python: venvPython() };
  } finally {
    await release();
  }
}

async function must(cmd: string, args: string[], timeoutMs: number, what: string): Promise<void> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`python-env: could not ${what}: ${cmd} exited with ${r.code}\n${tail(r.output, 40)}`);
}

async function wantedStamp(base: { version: string }): Promise<string> {
  const req = await readFile(REQUIREMENTS);
  return `${createHash("sha256").update(req).digest("hex")} ${base.version}\n`;
}

async function readStamp(venv: string): Promise<string | undefined> {
  try {
    const s = await readFile(join(venv, STAMP), "utf8");
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
