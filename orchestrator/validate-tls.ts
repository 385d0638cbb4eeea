/**
 * The checks of a test's TLS options (TestSpec.http.tls): part of orchestrator/validate.ts's
 * checkSpec, every problem named by its field. The PEM texts are parsed here as the driver will
 * (node:crypto, node:tls), so a test whose certificates cannot be used is refused at CreateTest
 * rather than failing every request.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";

/**
 * Largest PEM text of one field: the spec travels in every test_config message (Kafka's default
 * limit is 1 MB), and a CA bundle of the whole public web is ~220 KiB.
 */
export const MAX_PEM_BYTES = 256 * 1024;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Adds the problems of `spec.http.tls` to `bad`. */
export function checkTls(spec: TestSpec, bad: (field: string, problem: string) => void): void {
  const tls = spec.http?.tls;
  if (tls === undefined) return;
  const at = (field: string) => `spec.http.tls.${field}`;
  let https = true;
  try {
    https = new URL(spec.targetUrl).protocol === "https:";
  } catch {
    // The target URL's own problem is named by checkSpec.
  }
  const set: [string, boolean][] = [
    ["ca_pem", tls.caPem !== ""],
    ["cert_pem", tls.certPem !== ""],
    ["key_pem", tls.keyPem !== ""],
    ["servername", tls.servername !== ""],
    ["insecure", tls.insecure],
    ["handshake_per_request", tls.handshakePerRequest],
  ];
  if (!https)
    for (const [field, given] of set) if (given) bad(at(field), `applies to https:// targets only, and the target is ${spec.targetUrl}: use https://, or leave the TLS options out`);
  for (const [field, pem] of [
    ["ca_pem", tls.caPem],
    ["cert_pem", tls.certPem],
    ["key_pem", tls.keyPem],
  ] as const)
    if (pem.length > MAX_PEM_BYTES) bad(at(field), `must be at most ${MAX_PEM_BYTES} bytes, got ${pem.length}`);
  if (tls.caPem && tls.caPem.length <= MAX_PEM_BYTES) {
    const problem = certificatesProblem(tls.caPem);
    if (problem) bad(at("ca_pem"), problem);
  }
  if (tls.certPem && !tls.keyPem) bad(at("key_pem"), "is missing: a client certificate (cert_pem, --tls-cert) needs its private key (--tls-key)");
  if (tls.keyPem && !tls.certPem) bad(at("cert_pem"), "is missing: a private key (key_pem, --tls-key) needs its client certificate (--tls-cert)");
  const certProblem = tls.certPem && tls.certPem.length <= MAX_PEM_BYTES ? certificatesProblem(tls.certPem) : undefined;
  if (certProblem) bad(at("cert_pem"), certProblem);
  const keyProblem = tls.keyPem && tls.keyPem.length <= MAX_PEM_BYTES ? keyPemProblem(tls.keyPem) : undefined;
  if (keyProblem) bad(at("key_pem"), keyProblem);
  if (tls.certPem && tls.keyPem && !certProblem && !keyProblem && tls.certPem.length <= MAX_PEM_BYTES && tls.keyPem.length <= MAX_PEM_BYTES) {
    try {
      createSecureContext({ cert: tls.certPem, key: tls.keyPem });
    } catch (err) {
      bad(at("key_pem"), `does not go with the client certificate (cert_pem): ${reason(err)}`);
    }
  }
  if (tls.servername && (!DNS_NAME.test(tls.servername) || isIP(tls.servername) !== 0))
    bad(at("servername"), `must be a DNS name such as api.example.com (SNI carries no IP address), got "${tls.servername.slice(0, 80)}"`);
  if (tls.insecure && tls.caPem) bad(at("ca_pem"), "is not used with insecure (nothing is verified): drop one of them");
  const w = spec.workload;
  if (tls.handshakePerRequest && w.case === "avalanche" && w.value.pipelining > 1)
    bad("spec.avalanche.pipelining", "cannot be used with handshake_per_request (one request per TLS connection)");
}

/** Why `pem` is not one or more PEM certificates, or undefined. */
function certificatesProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) return "is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)";
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `certificate ${i + 1} of ${blocks.length} does not parse: ${reason(err)}`;
    }
  }
  return undefined;
}

/** Why `pem` is not a PEM private key, or undefined. */
function keyPemProblem(pem: string): string | undefined {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return "is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)";
  try {
    createPrivateKey(pem);
    return undefined;
  } catch (err) {
    return `does not parse as a private key: ${reason(err)}`;
  }
}

function reason(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return (e.message ?? String(err)).split("\n")[0]!;
}
