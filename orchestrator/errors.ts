import { Code, ConnectError } from "@connectrpc/connect";

/** The kinds of failure the domain reports; one place maps them to Connect codes. */
export type FailureKind = "invalid_argument" | "not_found" | "failed_precondition" | "unavailable" | "resource_exhausted" | "permission_denied";

/** A failure of a domain operation that the caller caused or can retry. */
export class DomainError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

const codes: Record<FailureKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  resource_exhausted: Code.ResourceExhausted,
  permission_denied: Code.PermissionDenied,
};

/** Maps a domain error to its Connect error; anything else passes through (becomes `internal`). */
export function toConnectError(err: unknown): unknown {
  if (err instanceof DomainError) return new ConnectError(err.message, codes[err.kind]);
  return err;
}
