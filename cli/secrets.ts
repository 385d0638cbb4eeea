import { readFileSync } from "node:fs";
import { UsageError } from "./spec-args.js";

/**
 * The bearer token, from (in order) `--token-file FILE`, `KANNON_TOKEN`, or `--token T`. A token
 * given on the command line shows in the process list (`ps`), so using it warns; the token itself
 * is never printed.
 */
export function tokenFrom(values: { token?: string | undefined; "token-file"?: string | undefined }, warn: (m: string) => void = (m) => console.warn(m)): string | undefined {
  if (values["token-file"] !== undefined) {
    let text: string;
    try {
      text = readFileSync(values["token-file"], "utf8");
    } catch (err) {
      throw new UsageError(`--token-file ${values["token-file"]}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const token = text.trim();
    if (!token) throw new UsageError(`--token-file ${values["token-file"]} is empty`);
    if (/\s/.test(token)) throw new UsageError(`--token-file ${values["token-file"]}: the token must be one line without spaces`);
    return token;
  }
  if (process.env.KANNON_TOKEN) return process.env.KANNON_TOKEN;
  if (values.token !== undefined) {
    warn("kannon: --token shows in the process list of this machine; prefer KANNON_TOKEN or --token-file FILE");
    if (!values.token) throw new UsageError("--token is empty");
    return values.token;
  }
  return undefined;
}

/** `--allow-target HOST[:PORT]` values plus `KANNON_ALLOW_TARGETS` (comma-separated). */
export function allowedTargets(flags: readonly string[] | undefined): string[] {
  const env = (process.env.KANNON_ALLOW_TARGETS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return [...(flags ?? []), ...env];
}
