/** Classifies a failed request into a stable error kind for reports. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
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
    default:
      return "other";
  }
}

/** An error with the `code` that {@link errorKind} classifies. */
export function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}
