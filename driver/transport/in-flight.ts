import { nowMs } from "../clock.js";

/**
 * Counts a transport's requests in flight, and wakes those waiting for a free slot (the open
 * model's cap) or for none in flight (the drain). A transport made of two (the fast path and its
 * undici fallback) shares one.
 */
export class InFlight {
  count = 0;
  private idleWaiters: (() => void)[] = [];
  private slotWaiters: (() => void)[] = [];

  /** One request more in flight. */
  started(): void {
    this.count++;
  }

  /** One request fewer in flight: wakes a waiter for a slot, and the drain when none is left. */
  settled(): void {
    this.count--;
    const slot = this.slotWaiters.shift();
    if (slot) slot();
    if (this.count === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** See Transport.waitForSlot: a cancel frees the waiter at once. */
  async waitForSlot(max: number, deadlineMs = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<boolean> {
    while (this.count >= max) {
      if (signal?.aborted || nowMs() >= deadlineMs) return false;
      const freed = await new Promise<boolean>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const waiter = () => finish(true);
        const onAbort = () => finish(false);
        const finish = (ok: boolean) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          const i = this.slotWaiters.indexOf(waiter);
          if (i >= 0) this.slotWaiters.splice(i, 1);
          resolve(ok);
        };
        this.slotWaiters.push(waiter);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (Number.isFinite(deadlineMs)) timer = setTimeout(() => finish(false), Math.min(Math.max(0, deadlineMs - nowMs()), 2 ** 31 - 1));
      });
      if (!freed) return false;
    }
    return true;
  }

  /** See Transport.drain. */
  async drain(deadlineMs: number): Promise<boolean> {
    if (this.count === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - nowMs()));
    });
    const drained = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return drained;
  }
}
