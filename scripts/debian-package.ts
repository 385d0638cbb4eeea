/**
 * Debian packages some tests need (Chromium for the browser tests, faketime for the clock-skew
 * test), installed once with apt-get when the file a test uses is missing: the way the Kafka jars
 * and the Python venv are provided, so `npm test` passes on a fresh Debian machine. Installing
 * needs root and apt-get; elsewhere the error says what to do. Never a silent skip.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { run, tail } from "./kafka-jars.js";

/** What to provide: the package, and the file it installs that the caller uses. */
export interface DebianPackage {
  /** Debian package name, e.g. `chromium`. */
  name: string;
  /** The file the caller needs from it, e.g. `/usr/bin/chromium`. */
  file: string;
  /** Must `file` be executable (a program) or only present (a library)? */
  executable: boolean;
  /** How long apt-get usually takes for it, said in the log line. */
  about: string;
  /** What else a user can do when it cannot be installed here (appended to the error). */
  otherwise?: string;
}

const INSTALL_TIMEOUT_MS = 15 * 60_000;
/** apt-get waits this long for another apt-get (another test run installing the same) to finish. */
const APT_LOCK_WAIT_S = 600;

const ensuring = new Map<string, Promise<string>>();

/** `pkg.file`, after installing `pkg.name` with apt-get when it is missing. */
export function ensureDebianPackage(pkg: DebianPackage, log: (m: string) => void = () => {}): Promise<string> {
  let p = ensuring.get(pkg.name);
  if (!p) {
    p = ensure(pkg, log).finally(() => ensuring.delete(pkg.name));
    ensuring.set(pkg.name, p);
  }
  return p;
}

async function ensure(pkg: DebianPackage, log: (m: string) => void): Promise<string> {
  const { name, file } = pkg;
  if (await usable(file, pkg.executable)) return file;
  const how = `install it with \`apt-get install -y ${name}\` as root (Debian/Ubuntu)${pkg.otherwise ? `, ${pkg.otherwise}` : ""}`;
  if (process.getuid?.() !== 0) throw new Error(`${name}: ${file} is missing and this is not root, so it cannot be installed here: ${how}`);
  if (!(await usable("/usr/bin/apt-get", true))) throw new Error(`${name}: ${file} is missing and there is no apt-get to install it: ${how}`);
  const started = Date.now();
  log(`${name}: ${file} is missing: installing Debian's ${name} with apt-get (once; ${pkg.about})...`);
  const apt = (args: string[]) =>
    // `env` sets DEBIAN_FRONTEND for apt-get alone: no prompt, no dialog.
    run("env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", `DPkg::Lock::Timeout=${APT_LOCK_WAIT_S}`, ...args], INSTALL_TIMEOUT_MS);
  for (const [args, what] of [
    [["update", "-qq"], "apt-get update"],
    [["install", "-y", "-qq", name], `apt-get install -y ${name}`],
  ] as const) {
    const r = await apt([...args]);
    if (r.code !== 0) throw new Error(`${name}: ${what} exited with ${r.code ?? "a signal"}; ${how}\n${tail(r.output, 30)}`);
  }
  if (!(await usable(file, pkg.executable))) throw new Error(`${name}: apt-get installed ${name} but ${file} is not there; ${how}`);
  log(`${name}: installed ${file} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return file;
}

/** True when `path` exists and is executable (or, with `executable` false, readable). */
export async function usable(path: string, executable: boolean): Promise<boolean> {
  return access(path, executable ? constants.X_OK : constants.R_OK).then(
    () => true,
    () => false,
  );
}
