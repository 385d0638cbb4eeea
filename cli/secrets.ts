import { readFileSync } from "node:fs";
import { UsageError } from "./args.js";

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

/** Command-line options of the Kafka connection's security, shared by every process that joins the bus. */
export const kafkaSecurityFlags = {
  "kafka-tls": { type: "boolean", help: "TLS to the brokers (KANNON_KAFKA_TLS=1)" },
  "kafka-ca-file": { type: "string", value: "PEM", help: "the brokers' CA; implies --kafka-tls (KANNON_KAFKA_CA_FILE)" },
  "kafka-sasl-mechanism": { type: "string", value: "M", help: "plain, scram-sha-256 or scram-sha-512 (KANNON_KAFKA_SASL_MECHANISM)" },
  "kafka-username": { type: "string", value: "U", help: "the SASL user (KANNON_KAFKA_USERNAME)" },
  "kafka-password-file": { type: "string", value: "FILE", help: "the SASL password's file (or KANNON_KAFKA_PASSWORD; never on the command line)" },
} as const;

const MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

/**
 * TLS and SASL settings from the flags and the environment: `--kafka-tls` (or a CA file, which
 * implies it), `--kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512` (KANNON_KAFKA_SASL_MECHANISM),
 * the user from `--kafka-username` or KANNON_KAFKA_USERNAME, the password from
 * KANNON_KAFKA_PASSWORD or `--kafka-password-file` (never from the command line).
 */
export function kafkaSecurity(values: {
  "kafka-tls"?: boolean | undefined;
  "kafka-ca-file"?: string | undefined;
  "kafka-sasl-mechanism"?: string | undefined;
  "kafka-username"?: string | undefined;
  "kafka-password-file"?: string | undefined;
}): { tls?: true | { ca: string[] }; sasl?: { mechanism: (typeof MECHANISMS)[number]; username: string; password: string } } {
  const out: ReturnType<typeof kafkaSecurity> = {};
  const caFile = values["kafka-ca-file"] ?? process.env.KANNON_KAFKA_CA_FILE;
  if (caFile) {
    try {
      out.tls = { ca: [readFileSync(caFile, "utf8")] };
    } catch (err) {
      throw new UsageError(`--kafka-ca-file ${caFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  } else if (values["kafka-tls"] || process.env.KANNON_KAFKA_TLS === "1") out.tls = true;
  // Empty is unset: a compose file or unit passes every variable, most of them empty.
  const mechanism = (values["kafka-sasl-mechanism"] ?? process.env.KANNON_KAFKA_SASL_MECHANISM)?.toLowerCase() || undefined;
  if (mechanism === undefined) {
    if (values["kafka-username"] || values["kafka-password-file"]) throw new UsageError("--kafka-username and --kafka-password-file need --kafka-sasl-mechanism");
    return out;
  }
  if (!(MECHANISMS as readonly string[]).includes(mechanism))
    throw new UsageError(`--kafka-sasl-mechanism must be one of ${MECHANISMS.join(", ")}, not "${mechanism}"`);
  const username = values["kafka-username"] ?? process.env.KANNON_KAFKA_USERNAME;
  if (!username) throw new UsageError("SASL needs a user: --kafka-username or KANNON_KAFKA_USERNAME");
  let password = process.env.KANNON_KAFKA_PASSWORD;
  const file = values["kafka-password-file"];
  if (file !== undefined) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new UsageError(`--kafka-password-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (!password) throw new UsageError("SASL needs a password: KANNON_KAFKA_PASSWORD or --kafka-password-file FILE");
  out.sasl = { mechanism: mechanism as (typeof MECHANISMS)[number], username, password };
  return out;
}
