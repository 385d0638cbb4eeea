import { performance } from "node:perf_hooks";
import { nowMs } from "../clock.js";
import type { H1Connection } from "./h1-connection.js";

/** What the open model expects of a part: sizes the connections it opens ahead of the start. */
export interface OpenModelPlan {
  /** The highest rate the part's schedule reaches, requests per second. */
  ratePerS: number;
  /** Most requests the part keeps in flight (its executor's cap); Infinity when uncapped. */
  maxInFlight: number;
}

/**
 * The latency the connections opened ahead are sized for: a part at `rate` req/s keeps about
 * rate × latency requests in flight (Little's law), so it opens rate × 2 ms connections.
 */
export const LATENCY_ESTIMATE_MS = 2;
/** Connections opened ahead whatever the rate: the timer that fires a part's due requests fires a few at once. */
export const MIN_OPEN_CONNECTIONS = 4;

/** How many connections of `slots` requests a part opens ahead of the start (see {@link LATENCY_ESTIMATE_MS}). */
export function connectionsAhead(plan: OpenModelPlan, slots: number): number {
  const wanted = Math.max(MIN_OPEN_CONNECTIONS, Math.ceil((plan.ratePerS * LATENCY_ESTIMATE_MS) / 1000 / slots));
  return Math.max(1, Math.min(wanted, Math.ceil(plan.maxInFlight / slots)));
}

/** Connections the pool opens at once while requests wait for one (more follow as these connect). */
export const GROW_AT_ONCE = 4;
/**
 * The pool grows when requests have waited for a connection this long without a break: every
 * connection stayed busy, so the rate needs more of them (Little's law: connections = rate × the
 * time each is held, the target's latency plus the generator's own delay in reading the answer).
 * A burst of overdue requests that the connections clear within it opens none.
 */
export const GROW_AFTER_MS = 5;
/**
 * ...unless the generator is its own bottleneck: its event loop was busy this share of the last
 * {@link LOOP_WINDOW_MS} or more (CPU-bound, no idle time left). More connections then bring no
 * more requests per second, only more CPU to open them and more answers waiting in their sockets
 * (growing whenever a request waited had opened 600-800 connections at 5,000-30,000/s on a busy
 * machine, one core short).
 */
export const LOOP_BUSY = 0.9;
/** How often the pool looks at its event loop's utilization (at most; and only while requests wait). */
export const LOOP_WINDOW_MS = 50;

/** What the pool reports about requests that waited for a connection and never got one. */
export interface OpenPoolOwner {
  /** A request starts waiting for a connection: counts it in flight. */
  started(): void;
  /** A waiting request failed (timeout, close) without being sent: records it and frees its count. */
  failed(kind: string, scheduledMs: number, endMs: number): void;
}

/**
 * The open model's connections on the HTTP/1.1 fast path, as k6's preAllocatedVUs/maxVUs: some
 * opened and connected ahead of the start ({@link connectionsAhead}), more opened while the
 * target slows, up to the part's in-flight cap. A due request goes to the connection idle the
 * longest (first in, first out: every connection stays in use, so none idles into the target's
 * keep-alive timeout). When none is idle it waits for the first one that frees (counted in
 * flight, its latency still from its scheduled time), and the pool opens up to
 * {@link GROW_AT_ONCE} more connections at a time while requests keep waiting
 * ({@link GROW_AFTER_MS}), up to the cap, unless its own CPU is the bottleneck ({@link LOOP_BUSY}).
 *
 * Requests that waited go out after the turn's reads, together ({@link flush}), not one by one
 * between the answers read: a loopback write that wakes the target costs several times one
 * written right after another (h1-exchange-connection.ts measured ~19 against ~5 µs).
 *
 * Why wait rather than open a connection per request: a connection costs ~1.5 ms of the
 * generator's CPU to open and close (measured with --cpu-prof, 20,000/s, nginx), about 100
 * requests' worth; when the generator falls behind for a moment (a busy core) and fires the
 * overdue requests together, the connections it has free up within a millisecond, and a
 * connection per request had grown the pool to 600-700 connections at 20,000/s.
 */
export class OpenPool {
  /** Every connection of the pool, for the sweeper. */
  readonly connections: H1Connection[] = [];
  /** Connections with a free slot, oldest first, from `head` on. Non-empty only when no request waits. */
  private idle: (H1Connection | undefined)[] = [];
  private head = 0;
  /** Scheduled times of the requests waiting for a connection, oldest first, from `waitHead` on. */
  private waiting: number[] = [];
  private waitHead = 0;
  /** Connections opened for waiting requests that have not connected yet. */
  private growing = new Set<H1Connection>();
  private cap = Number.POSITIVE_INFINITY;
  /** Connections freed while requests waited: they take them in {@link flush}, at the end of the turn. */
  private freedInTurn: H1Connection[] = [];
  private flushing = false;
  /** Since when (epoch ms) requests have waited without a break; 0 while none waits. */
  private waitingSinceMs = 0;
  /** The event loop's utilization when last looked at, when (epoch ms), and whether it was busy since the look before. */
  private loopSeen = performance.eventLoopUtilization();
  private loopSeenMs = nowMs();
  private loopBusy = false;

  constructor(
    private readonly make: (freed: (c: H1Connection) => void) => H1Connection,
    private readonly slots: number,
    private readonly owner: OpenPoolOwner,
  ) {}

  /** Opens and connects the connections a part needs ahead of the start (once). */
  prepare(plan: OpenModelPlan): void {
    this.cap = plan.maxInFlight;
    for (let i = this.connections.length; i < connectionsAhead(plan, this.slots); i++) {
      const c = this.open();
      c.connectAhead();
      this.release(c);
    }
  }

  /** Sends the request scheduled at `scheduledMs` on an idle connection, or queues it for the next one free. */
  fire(scheduledMs: number): void {
    const c = this.take();
    if (c !== undefined) {
      c.send(scheduledMs);
      if (c.free > 0) this.release(c);
      return;
    }
    this.owner.started();
    if (this.waitHead === this.waiting.length) this.waitingSinceMs = nowMs();
    this.waiting.push(scheduledMs);
    this.flushLater();
  }

  /** The connections opened so far. */
  get size(): number {
    return this.connections.length;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.waiting.length - this.waitHead;
  }

  /** Fails every waiting request scheduled before `oldestMs` (request timeout), or all of them. */
  expire(kind: string, oldestMs = Number.POSITIVE_INFINITY): void {
    const now = nowMs();
    while (this.waitHead < this.waiting.length && this.waiting[this.waitHead]! < oldestMs) this.owner.failed(kind, this.nextWaiting(), now);
  }

  private readonly freed = (c: H1Connection): void => {
    this.growing.delete(c);
    if (c.queued) return;
    if (this.waitHead === this.waiting.length) {
      if (c.free > 0) this.release(c);
      return;
    }
    // Requests wait: this one goes out with the others after the turn's reads.
    c.queued = true;
    this.freedInTurn.push(c);
    this.flushLater();
  };

  private flushLater(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(this.flush);
  }

  /**
   * After the turn's reads: the connections freed meanwhile take the waiting requests, oldest
   * first, their writes one after another; then, if requests have kept waiting, the pool grows
   * ({@link GROW_AFTER_MS}, {@link LOOP_BUSY}).
   */
  private readonly flush = (): void => {
    this.flushing = false;
    const freed = this.freedInTurn;
    this.freedInTurn = [];
    for (const c of freed) {
      c.queued = false;
      while (c.free > 0 && this.waitHead < this.waiting.length) c.send(this.nextWaiting(), true);
      if (c.free > 0) this.release(c);
    }
    if (this.waitHead < this.waiting.length && nowMs() - this.waitingSinceMs >= GROW_AFTER_MS && !this.generatorBusy()) this.grow();
  };

  /** Whether this thread's event loop was busy {@link LOOP_BUSY} of the time or more, over the last window. */
  private generatorBusy(): boolean {
    const now = nowMs();
    if (now - this.loopSeenMs >= LOOP_WINDOW_MS) {
      const seen = performance.eventLoopUtilization();
      this.loopBusy = performance.eventLoopUtilization(seen, this.loopSeen).utilization >= LOOP_BUSY;
      this.loopSeen = seen;
      this.loopSeenMs = now;
    }
    return this.loopBusy;
  }

  /** Opens connections for the waiting requests, up to {@link GROW_AT_ONCE} connecting at once and the cap. */
  private grow(): void {
    const waiting = this.waiting.length - this.waitHead;
    while (this.growing.size < Math.min(GROW_AT_ONCE, waiting) && (this.connections.length + 1) * this.slots <= this.cap) {
      const grown = this.open();
      this.growing.add(grown);
      grown.connectAhead();
    }
  }

  private nextWaiting(): number {
    const scheduled = this.waiting[this.waitHead++]!;
    if (this.waitHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitHead = 0;
      this.waitingSinceMs = 0;
    } else if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.waitHead = 0;
    }
    return scheduled;
  }

  private open(): H1Connection {
    const c = this.make(this.freed);
    this.connections.push(c);
    return c;
  }

  private release(c: H1Connection): void {
    c.queued = true;
    this.idle.push(c);
  }

  private take(): H1Connection | undefined {
    if (this.head === this.idle.length) return undefined;
    const c = this.idle[this.head]!;
    this.idle[this.head++] = undefined;
    if (this.head === this.idle.length) {
      this.idle.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.idle.length) {
      this.idle = this.idle.slice(this.head);
      this.head = 0;
    }
    c.queued = false;
    return c;
  }
}
