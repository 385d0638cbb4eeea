import { DomainError } from "./errors.js";

/** Page sizes of the listing RPCs: what 0 means, and the most one page may hold. */
export const PAGE = {
  tests: { default: 100, max: 1000 },
  drivers: { default: 100, max: 1000 },
  intervals: { default: 1000, max: 10_000 },
} as const;

/** A page of a listing. */
export interface Page<T> {
  items: T[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** The page size asked for, defaulted and capped. */
export function pageSize(asked: number, kind: keyof typeof PAGE): number {
  const { default: d, max } = PAGE[kind];
  return asked <= 0 ? d : Math.min(asked, max);
}

/**
 * An opaque page token: the listing it belongs to and where the previous page ended. Tokens are
 * not secret; they only have to survive a round trip and be recognised as ours.
 */
export function encodeToken(kind: string, position: string): string {
  return Buffer.from(JSON.stringify({ k: kind, p: position }), "utf8").toString("base64url");
}

/** The position in a token of `kind`, or undefined for an empty token; invalid_argument otherwise. */
export function decodeToken(kind: string, token: string, valid: (position: string) => boolean = () => true): string | undefined {
  if (token === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const p = parsed as { k?: unknown; p?: unknown } | undefined;
  if (!p || p.k !== kind || typeof p.p !== "string" || !valid(p.p))
    throw new DomainError("invalid_argument", `page_token is not a token of this ${kind} listing (pass next_page_token from the previous page, or nothing for the first)`);
  return p.p;
}
