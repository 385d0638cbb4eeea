import { DomainError } from "./errors.js";

/** Most messages a stream may hold for a client that does not read; beyond it the stream fails. */
export const MAX_QUEUED = 10_000;
/** Most bytes (as encoded) a stream may hold for a client that does not read. */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/** Limits of a {@link Channel}. */
export interface ChannelOptions {
  maxQueued?: number;
  maxBytes?: number;
  /** A value's size in bytes (its encoding); without it only messages are counted. */
  sizeOf?: (value: unknown) => number;
}

/**
 * A push-to-pull queue for server-streaming RPCs: producers `push`, one consumer iterates.
 * Ending the iteration (client gone) runs `onClose` so the producer can unsubscribe. A client
 * that falls {@link MAX_QUEUED} messages or {@link MAX_QUEUED_BYTES} bytes behind gets an error
 * instead of unbounded memory.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private readonly sizes: number[] = [];
  private queuedBytes = 0;
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (err: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private readonly maxQueued: number;
  private readonly maxBytes: number;
  private readonly sizeOf: ((value: T) => number) | undefined;
  onClose: (() => void) | undefined;

  constructor(options: ChannelOptions | number = {}) {
    const o = typeof options === "number" ? { maxQueued: options } : options;
    this.maxQueued = o.maxQueued ?? MAX_QUEUED;
    this.maxBytes = o.maxBytes ?? MAX_QUEUED_BYTES;
    this.sizeOf = o.sizeOf as ((value: T) => number) | undefined;
  }

  /** Bytes queued for the client (0 without a sizeOf). */
  get bytesQueued(): number {
    return this.queuedBytes;
  }

  /** Queues a value; ignored after `end`. */
  push(value: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.resolve({ value, done: false });
      return;
    }
    const size = this.sizeOf ? this.sizeOf(value) : 0;
    if (this.queue.length >= this.maxQueued) {
      this.fail(new DomainError("resource_exhausted", `the client fell ${this.maxQueued} messages behind; stream closed`));
    } else if (this.queuedBytes + size > this.maxBytes) {
      this.fail(new DomainError("resource_exhausted", `the client fell ${this.maxBytes} bytes behind; stream closed`));
    } else {
      this.queue.push(value);
      this.sizes.push(size);
      this.queuedBytes += size;
    }
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
    this.clear();
    this.end();
    this.onClose?.();
  }

  private clear(): void {
    this.queue.length = 0;
    this.sizes.length = 0;
    this.queuedBytes = 0;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.queue.length > 0) {
          const value = this.queue.shift()!;
          this.queuedBytes -= this.sizes.shift() ?? 0;
          return Promise.resolve({ value, done: false });
        }
        if (this.failure) return Promise.reject(this.failure);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
      },
      return: () => {
        this.ended = true;
        this.clear();
        this.onClose?.();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
