/**
 * The browser for the dashboard's test: Debian's Chromium at /usr/bin/chromium, driven by
 * playwright-core (which bundles no browser). Installed once with apt-get when missing, the way the
 * Kafka jars and the Python venv are provided; `$KANNON_CHROMIUM` names another Chromium instead.
 *
 *   npm run chromium              install it when missing; prints the browser's path as the last line
 *
 * Installing needs root and apt-get (Debian, Ubuntu); elsewhere the error says what to do.
 */
import { fileURLToPath } from "node:url";
import { ensureDebianPackage, usable } from "./debian-package.js";

/** Where Debian's chromium package puts the browser. */
export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/** The browser's path: `$KANNON_CHROMIUM`, else /usr/bin/chromium, installed with apt-get first when missing. */
export async function ensureChromium(log: (m: string) => void = () => {}): Promise<string> {
  const explicit = process.env.KANNON_CHROMIUM?.trim();
  if (explicit) {
    if (await usable(explicit, true)) return explicit;
    throw new Error(`chromium: KANNON_CHROMIUM=${explicit} is not an executable file`);
  }
  return ensureDebianPackage(
    { name: "chromium", file: DEBIAN_CHROMIUM, executable: true, about: "about 2 minutes", otherwise: "or set KANNON_CHROMIUM to a Chromium or Chrome binary" },
    log,
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
