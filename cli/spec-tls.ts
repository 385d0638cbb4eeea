/**
 * A test's TLS options as the user writes them (browser-safe, no Node import): the `http.tls`
 * section of a spec file, whose `ca`, `cert` and `key` are file paths read like data files (relative
 * to the spec file by the CLI, among the attached files by the dashboard), and the `--tls-*` flags of `kannon run|test`. Both give TestSpec.http.tls
 * (protocol.proto TlsOptions), which orchestrator/validate-tls.ts checks.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { Bad, ReadData } from "./spec-scenarios.js";

/** The TLS flags (part of cli/spec-args.ts's specFlags). */
export const tlsFlags = {
  "tls-ca": { type: "string", value: "FILE", help: "https: PEM CA certificate(s) that verify the target, instead of the system's" },
  "tls-cert": { type: "string", value: "FILE", help: "https: PEM client certificate for mutual TLS (with --tls-key)" },
  "tls-key": { type: "string", value: "FILE", help: "https: PEM private key of --tls-cert" },
  "tls-servername": { type: "string", value: "NAME", help: "https: the name sent as SNI and verified in the certificate", default: "the URL's host" },
  insecure: { type: "boolean", help: "https: do not verify the target's certificate (the report says so)" },
  "handshake-per-request": { type: "boolean", help: "https: a new TLS connection (full handshake) for every request" },
} as const;

/** The TLS flags' values. */
export interface TlsFlagValues {
  "tls-ca"?: string | undefined;
  "tls-cert"?: string | undefined;
  "tls-key"?: string | undefined;
  "tls-servername"?: string | undefined;
  insecure?: boolean | undefined;
  "handshake-per-request"?: boolean | undefined;
}

/** The spec field each TLS flag sets, for naming problems in the flags' words. */
export const TLS_FLAG_OF_FIELD: [RegExp, string][] = [
  [/^spec\.http\.tls\.ca_pem/, "--tls-ca"],
  [/^spec\.http\.tls\.cert_pem/, "--tls-cert"],
  [/^spec\.http\.tls\.key_pem/, "--tls-key"],
  [/^spec\.http\.tls\.servername/, "--tls-servername"],
  [/^spec\.http\.tls\.insecure/, "--insecure"],
  [/^spec\.http\.tls\.handshake_per_request/, "--handshake-per-request"],
];

/** TlsOptions in proto JSON from the flags (files read by `readFile`), or undefined when none is given. */
export function tlsOfFlags(v: TlsFlagValues, readFile: (path: string, flag: string) => string): Record<string, JsonValue> | undefined {
  const tls: Record<string, JsonValue> = {};
  if (v["tls-ca"] !== undefined) tls.caPem = readFile(v["tls-ca"], "--tls-ca");
  if (v["tls-cert"] !== undefined) tls.certPem = readFile(v["tls-cert"], "--tls-cert");
  if (v["tls-key"] !== undefined) tls.keyPem = readFile(v["tls-key"], "--tls-key");
  if (v["tls-servername"] !== undefined) tls.servername = v["tls-servername"];
  if (v.insecure) tls.insecure = true;
  if (v["handshake-per-request"]) tls.handshakePerRequest = true;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/** A file key of `http.tls` and the PEM field it fills. */
const FILE_KEYS = [
  ["ca", "caPem", "ca_pem"],
  ["cert", "certPem", "cert_pem"],
  ["key", "keyPem", "key_pem"],
] as const;

/**
 * A spec file's `http` value with its `tls` file paths (`ca`, `cert`, `key`) read by `read` into
 * the PEM fields (`caPem`, …, which may also be written inline); other fields are left to the
 * TestSpec's JSON reading.
 */
export function httpWithTlsFiles(http: unknown, read: ReadData, bad: Bad): unknown {
  if (http === null || typeof http !== "object" || Array.isArray(http)) return http;
  const tls = (http as Record<string, unknown>).tls;
  if (tls === null || typeof tls !== "object" || Array.isArray(tls)) return http;
  const out: Record<string, unknown> = { ...(tls as Record<string, unknown>) };
  for (const [key, json, proto] of FILE_KEYS) {
    const path = out[key];
    if (path === undefined) continue;
    delete out[key];
    const at = `spec.http.tls.${key}`;
    if (typeof path !== "string" || path === "") bad(at, "must be a file path (relative to the spec file)");
    else if (out[json] !== undefined || out[proto] !== undefined) bad(at, `and ${json} are both given: keep one (${key}: a file, ${json}: the PEM text)`);
    else out[json] = read(path, at, bad);
  }
  return { ...(http as Record<string, unknown>), tls: out };
}
