import { readFileSync } from "node:fs";
import type { TargetOptions } from "./target.js";

/** Flags that take a value (`--flag V` or `--flag=V`). */
const VALUE_FLAGS = new Set(["--port", "--host", "--tls-cert", "--tls-key", "--tls-client-ca"]);
const USAGE = "the target takes --port N, --host H, --tls-cert FILE, --tls-key FILE and --tls-client-ca FILE";

/** Reads a PEM file named by `flag`; throws naming the flag and the file when it cannot. */
function readPem(flag: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!text.includes("-----BEGIN ")) throw new Error(`${flag}: ${file} is not PEM (no "-----BEGIN" line)`);
  return text;
}

/**
 * Parses the target's command line: `--port N` (0..65535), `--host H`, and HTTPS with
 * `--tls-cert FILE --tls-key FILE` (PEM; both or neither) plus `--tls-client-ca FILE` for mutual
 * TLS; each also as `--flag=V`. Reads the PEM files. Throws an Error naming the flag for a bad or
 * missing value, an unreadable file or an unknown argument.
 */
export function parseTargetArgs(argv: string[]): TargetOptions {
  const options: TargetOptions = {};
  const files: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq !== -1 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) throw new Error(`unknown argument ${JSON.stringify(arg)}: ${USAGE}`);
    let value: string | undefined;
    if (flag !== arg) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value !== undefined && value.startsWith("--")) value = undefined;
      else i++;
    }
    if (flag === "--port") {
      if (value === undefined || !/^\d{1,5}$/.test(value) || Number(value) > 65_535) {
        throw new Error(`--port needs an integer from 0 to 65535, got ${value === undefined ? "nothing" : JSON.stringify(value)}`);
      }
      options.port = Number(value);
    } else if (flag === "--host") {
      if (value === undefined || value.trim() === "") {
        throw new Error(`--host needs an address, got ${value === undefined ? "nothing" : JSON.stringify(value)}`);
      }
      options.host = value;
    } else {
      if (value === undefined || value === "") throw new Error(`${flag} needs a PEM file, got nothing`);
      files[flag] = value;
    }
  }
  const cert = files["--tls-cert"];
  const key = files["--tls-key"];
  const clientCa = files["--tls-client-ca"];
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(cert === undefined ? "--tls-key needs --tls-cert: the certificate that goes with the key" : "--tls-cert needs --tls-key: the certificate's private key");
  }
  if (clientCa !== undefined && cert === undefined) throw new Error("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first");
  if (cert !== undefined && key !== undefined) {
    options.tls = { cert: readPem("--tls-cert", cert), key: readPem("--tls-key", key) };
    if (clientCa !== undefined) options.tls.clientCa = readPem("--tls-client-ca", clientCa);
  }
  return options;
}
