/**
 * The browser for the dashboard's test: Debian's Chromium at /usr/bin/chromium, driven by
 * playwright-core (which bundles no browser). Installed once with apt-get when missing, the way the
 * Kafka jars and the Python venv are provided; `$KANNON_CHROMIUM` names another Chromium instead.
 *
 *   npm run chromium              install it when missing; prints the browser's path as the last line
 *
 * Installing needs root and apt-get (Debian, Ubuntu); elsewhere the error says what to do.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { run, tail } from "./kafka-jars.js";

/** Where Debian's chromium package puts the browser. */
export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

const INSTALL_TIMEOUT_MS = 15 * 60_000;
/** apt-get waits this long for another apt-get (another test run installing the same) to finish. */
const APT_LOCK_WAIT_S = 600;
const HOW = `install it with \`apt-get install -y chromium\` as root (Debian/Ubuntu), or set KANNON_CHROMIUM to a Chromium or Chrome binary`;

let ensuring: Promise<string> | undefined;

/** The browser's path: `$KANNON_CHROMIUM`, else /usr/bin/chromium, installed with apt-get first when missing. */
export function ensureChromium(log: (m: string) => void = () => {}): Promise<string> {
  ensuring ??= ensure(log).finally(() => {
    ensuring = undefined;
  });
  return ensuring;
}

async function ensure(log: (m: string) => void): Promise<string> {
  const explicit = process.env.KANNON_CHROMIUM?.trim();
  if (explicit) {
    if (await executable(explicit)) return explicit;
    throw new Error(`chromium: KANNON_CHROMIUM=${explicit} is not an executable file`);
  }
  if (await executable(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;

  if (process.getuid?.() !== 0) throw new Error(`chromium: ${DEBIAN_CHROMIUM} is missing and this is not root, so it cannot be installed here: ${HOW}`);
  if (!(await executable("/usr/bin/apt-get"))) throw new Error(`chromium: ${DEBIAN_CHROMIUM} is missing and there is no apt-get to install it: ${HOW}`);
  const started = Date.now();
  log(`chromium: ${DEBIAN_CHROMIUM} is missing: installing Debian's chromium with apt-get (once; about 2 minutes)...`);
  const apt = (args: string[]) =>
    // `env` sets DEBIAN_FRONTEND for apt-get alone: no prompt, no dialog.
    run("env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", `DPkg::Lock::Timeout=${APT_LOCK_WAIT_S}`, ...args], INSTALL_TIMEOUT_MS);
  for (const [args, what] of [
    [["update", "-qq"], "apt-get update"],
    [["install", "-y", "-qq", "chromium"], "apt-get install -y chromium"],
  ] as const) {
    const r = await apt([...args]);
    if (r.code !== 0) throw new Error(`chromium: ${what} exited with ${r.code ?? "a signal"}; ${HOW}\n${tail(r.output, 30)}`);
  }
  if (!(await executable(DEBIAN_CHROMIUM))) throw new Error(`chromium: apt-get installed chromium but ${DEBIAN_CHROMIUM} is not there; ${HOW}`);
  log(`chromium: installed ${DEBIAN_CHROMIUM} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return DEBIAN_CHROMIUM;
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureChromium((m) => process.stderr.write(`${m}\n`)).then(
    (path) => process.stdout.write(`${path}\n`),
    (err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  );
}
