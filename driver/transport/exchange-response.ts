/**
 * What both exchanges (fast-exchange.ts, undici-exchange.ts) build a response with: the shared
 * empty headers and body of a response whose parts are not kept, and the header object's rule for
 * repeated names.
 */

/** The headers of a response whose headers are not kept (shared, frozen). */
export const NO_HEADERS: Record<string, string | string[]> = Object.freeze({}) as Record<string, string | string[]>;

/** The body of a response whose body is not kept (shared, empty). */
export const NO_BODY = new Uint8Array(0);

/** Adds one header to `into` (name lower-cased by the caller): a repeated name becomes an array. */
export function addHeader(into: Record<string, string | string[]>, name: string, value: string): void {
  const had = into[name];
  if (had === undefined) into[name] = value;
  else if (typeof had === "string") into[name] = [had, value];
  else had.push(value);
}
