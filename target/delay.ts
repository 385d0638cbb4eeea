/** The longest delay the target accepts (`GET /delay?ms=N`, the flow API's `?delay=N`), in milliseconds. */
export const MAX_DELAY_MS = 60_000;

/** Reads a delay in milliseconds; returns undefined unless `raw` is an integer in 0..MAX_DELAY_MS. */
export function parseDelayMs(raw: string | null): number | undefined {
  if (raw === null || !/^\d{1,5}$/.test(raw)) return undefined;
  const ms = Number(raw);
  return ms <= MAX_DELAY_MS ? ms : undefined;
}
