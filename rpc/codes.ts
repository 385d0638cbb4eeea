/**
 * RPC status codes as the report counts them (MetricsMessage.code_counts): Connect's snake-case
 * names, indexed by their gRPC number, and how a response without an RPC status gets one.
 */

/** Every code, at the index of its gRPC number (0 = ok … 16 = unauthenticated). */
export const RPC_CODES: readonly string[] = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

const NAMES: ReadonlySet<string> = new Set(RPC_CODES);

/** The code a `grpc-status` value names ("14" → unavailable); anything else is `unknown`, as gRPC clients read it. */
export function codeOfGrpcStatus(text: string): string {
  return /^\d{1,2}$/.test(text) ? (RPC_CODES[Number(text)] ?? "unknown") : "unknown";
}

/** `name` when it is a code's name (Connect's error JSON `code`), else undefined. */
export function codeOfName(name: unknown): string | undefined {
  return typeof name === "string" && NAMES.has(name) ? name : undefined;
}

/**
 * The code of an HTTP status that carries no RPC status, as gRPC's spec maps it
 * (doc/http-grpc-status-mapping.md; Connect's protocol uses the same table).
 */
export function codeOfHttpStatus(status: number): string {
  switch (status) {
    case 400:
      return "internal";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "unimplemented";
    case 429:
    case 502:
    case 503:
    case 504:
      return "unavailable";
    default:
      return "unknown";
  }
}

/**
 * A gRPC response's code: from its `grpc-status` (trailers, or a trailers-only response's headers)
 * when the HTTP status is 200; else from the HTTP status. A 200 without grpc-status is `internal`.
 */
export function grpcCode(httpStatus: number, grpcStatus: string | undefined): string {
  if (httpStatus !== 200) return codeOfHttpStatus(httpStatus);
  return grpcStatus === undefined ? "internal" : codeOfGrpcStatus(grpcStatus.trim());
}
