/**
 * Certificate verification failures (OpenSSL's X509 verify codes as node reports them, and node's
 * host-name check): the `tls_verify` kind.
 */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Classifies a failed request into a stable error kind for reports. TLS: `tls_verify` when the
 * target's certificate does not verify, `tls` for other handshake failures (an alert, no shared
 * protocol, a refused client certificate). `h2_protocol`: an HTTP/2 transport's protocol failure
 * (an h2c target answering HTTP/1.1, a bad preface, GOAWAY with PROTOCOL_ERROR), thrown as
 * `codeError(message, "KANNON_H2_PROTOCOL")`.
 */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    if (TLS_VERIFY_CODES.has(code)) return "tls_verify";
    if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code === "KANNON_TLS") return "tls";
  }
  switch (code) {
    case "ECONNREFUSED":
      return "connect_refused";
    case "UND_ERR_CONNECT_TIMEOUT":
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "KANNON_REQUEST_TIMEOUT":
    case "ETIMEDOUT":
      return "timeout";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return "reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "dns";
    case "UND_ERR_ABORTED":
    case "UND_ERR_DESTROYED":
    case "UND_ERR_CLOSED":
      return "aborted";
    case "KANNON_PROTOCOL":
      return "protocol";
    case "KANNON_H2_PROTOCOL":
      return "h2_protocol";
    default:
      return "other";
  }
}

/** An error with the `code` that {@link errorKind} classifies. */
export function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}
