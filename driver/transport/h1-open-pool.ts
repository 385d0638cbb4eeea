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

/**
 * The open model's connections on the HTTP/1.1 fast path, as k6's preAllocatedVUs/maxVUs: some
 * opened and connected ahead of the start ({@link connectionsAhead}), more opened while the
 * target slows, up to the part's in-flight cap. A due request goes to the connection idle the
 * longest (first in, first out: every connection stays in use, so none idles into the target's
 * keep-alive timeout); when none is idle it opens another one and sends there (the connect is in
 * that request's latency, which counts from its scheduled time). Taking the last idle one opens a
 * spare ahead while under the cap, so a slowing target rarely costs a due request its connect.
 */
export class OpenPool {
  /** Every connection of the pool, for the sweeper. */
  readonly connections: H1Connection[] = [];
  /** Connections with a free slot, oldest first, from `head` on. */
  private idle: (H1Connection | undefined)[] = [];
  private head = 0;
  private cap = Number.POSITIVE_INFINITY;

  constructor(
    private readonly make: (freed: (c: H1Connection) => void) => H1Connection,
    private readonly slots: number,
  ) {}

  /** Opens and connects the connections a part needs ahead of the start (once). */
  prepare(plan: OpenModelPlan): void {
    this.cap = plan.maxInFlight;
    for (let i = this.connections.length; i < connectionsAhead(plan, this.slots); i++) this.spare();
  }

  /** Sends the request scheduled at `scheduledMs` on an idle connection, or a new one. */
  fire(scheduledMs: number): void {
    const c = this.take() ?? this.open();
    c.send(scheduledMs);
    if (c.free > 0) this.release(c);
    if (this.head === this.idle.length && (this.connections.length + 1) * this.slots <= this.cap) this.spare();
  }

  /** The connections opened so far. */
  get size(): number {
    return this.connections.length;
  }

  private readonly freed = (c: H1Connection): void => {
    if (!c.queued && c.free > 0) this.release(c);
  };

  private open(): H1Connection {
    const c = this.make(this.freed);
    this.connections.push(c);
    return c;
  }

  /** Opens a connection ahead of its first request, idle. */
  private spare(): void {
    const c = this.open();
    c.connectAhead();
    this.release(c);
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
