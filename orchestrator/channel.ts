import { DomainError } from "./errors.js";

/** Most messages a stream may hold for a client that does not read; beyond it the stream fails. */
export const MAX_QUEUED = 10_000;

/**
 * A push-to-pull queue for server-streaming RPCs: producers `push`, one consumer iterates.
 * Ending the iteration (client gone) runs `onClose` so the producer can unsubscribe. A client
 * that falls {@link MAX_QUEUED} messages behind gets an error instead of unbounded memory.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (err: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  onClose: (() => void) | undefined;

  constructor(private readonly maxQueued = MAX_QUEUED) {}

  /** Queues a value; ignored after `end`. */
  push(value: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.resolve({ value, done: false });
    } else if (this.queue.length >= this.maxQueued) {
      this.fail(new DomainError("resource_exhausted", `the client fell ${this.maxQueued} messages behind; stream closed`));
    } else this.queue.push(value);
  }

  /** Ends the stream once queued values are consumed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  /** Ends the stream with an error, dropping what is queued. */
  private fail(err: Error): void {
    this.failure = err;
    this.queue.length = 0;
    this.end();
    this.onClose?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.failure) return Promise.reject(this.failure);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
      },
      return: () => {
        this.ended = true;
        this.queue.length = 0;
        this.onClose?.();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
