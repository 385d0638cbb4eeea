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
 * The pool grows when requests wait for a connection and the target is slow: one of its
 * connections' answers has been missing this long across a poll of the sockets (its request was
 * sent this long before the previous turn's flush, and the reads since did not bring the answer).
 * A generator that fell behind, CPU-bound or off its core, opens none: its answers are in the
 * sockets, read at its next poll, not missing. More connections would only cost it more CPU to
 * open (~1.5 ms each) and leave more answers waiting (growing whenever a request waited had
 * opened 600-800 connections at 5,000-30,000/s on a busy machine).
 */
export const GROW_AFTER_MS = 5;

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
 * {@link GROW_AT_ONCE} more connections at a time while requests wait for a slow target
 * ({@link GROW_AFTER_MS}), up to the cap.
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
  /** When the previous flush ran (epoch ms): the sockets were polled between it and this one. */
  private lastFlushMs = 0;

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
   * first, their writes one after another; then, if requests still wait and the target is slow
   * ({@link GROW_AFTER_MS}), the pool grows.
   */
  private readonly flush = (): void => {
    this.flushing = false;
    const polledAfter = this.lastFlushMs;
    this.lastFlushMs = nowMs();
    const freed = this.freedInTurn;
    this.freedInTurn = [];
    for (const c of freed) {
      c.queued = false;
      while (c.free > 0 && this.waitHead < this.waiting.length) c.send(this.nextWaiting(), true);
      if (c.free > 0) this.release(c);
    }
    if (this.waitHead === this.waiting.length) return;
    if (this.answerMissing(polledAfter)) this.grow();
    // Looked at again while requests wait, even when nothing is fired or freed meanwhile (at the
    // cap, over connections that all answered in the same turn, no turn would look otherwise).
    this.recheck ??= setTimeout(this.recheckNow, GROW_AFTER_MS).unref();
  };

  private recheck: NodeJS.Timeout | undefined;
  private readonly recheckNow = (): void => {
    this.recheck = undefined;
    this.flushLater();
  };

  /**
   * Whether a connection still waits for the answer to a request sent {@link GROW_AFTER_MS}
   * before `polledAfter` (the previous flush: the sockets were read since, without it). Measured
   * against the previous flush, not the clock now: a generator that lost its core after the poll
   * has its answers in the sockets, and the time it was away is not the target's.
   */
  private answerMissing(polledAfter: number): boolean {
    const sentBefore = polledAfter - GROW_AFTER_MS;
    for (const c of this.connections) {
      const sent = c.oldestSent;
      if (sent !== undefined && sent < sentBefore) return true;
    }
    return false;
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
