/**
 * A push-to-pull queue for server-streaming RPCs: producers `push`, one consumer iterates.
 * Ending the iteration (client gone) runs `onClose` so the producer can unsubscribe.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  onClose: (() => void) | undefined;

  /** Queues a value; ignored after `end`. */
  push(value: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w({ value, done: false });
    } else this.queue.push(value);
  }

  /** Ends the stream once queued values are consumed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
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
