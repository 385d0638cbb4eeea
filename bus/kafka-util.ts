/** Retry, timeout and error helpers shared by the Kafka transport and its subscriptions. */
import type { RetryOptions } from "kafkajs";

/** kafkajs's own retries of each request. */
export const RETRY: RetryOptions = { initialRetryTime: 100, maxRetryTime: 2_000, retries: 8 };
/** Longest wait for one consumer to leave its group on close. */
export const CLOSE_TIMEOUT_MS = 5_000;
/** Runs `fn`, retrying retriable errors with exponential backoff. */
export async function retrying<T>(
  fn: () => Promise<T>,
  opts: { attempts?: number; log?: (m: string) => void; what?: string } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isRetriable(err)) throw err;
      const backoff = Math.min(100 * 2 ** (attempt - 1), 2_000);
      if (attempt >= 3) opts.log?.(`kafka: ${opts.what ?? "request"} failed (attempt ${attempt}/${attempts}): ${errorText(err)}; retrying`);
      await sleep(backoff);
    }
  }
}

const RETRIABLE_NAMES = new Set([
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded",
  "KafkaJSLockTimeout",
]);

/** Whether an error (or one it wraps) is worth another attempt. */
export function isRetriable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const x = e as { retriable?: unknown; name?: unknown; originalError?: unknown; cause?: unknown };
    if (x.retriable === true || (typeof x.name === "string" && RETRIABLE_NAMES.has(x.name))) return true;
    e = x.originalError ?? x.cause;
  }
  return false;
}

/** An error as one line, with the cause it wraps. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { originalError?: unknown }).originalError ?? err.cause;
  return `${err.name === "Error" ? "" : `${err.name}: `}${err.message}${cause instanceof Error && !err.message.includes(cause.message) ? ` (cause: ${cause.message})` : ""}`;
}

/** Rejects when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
