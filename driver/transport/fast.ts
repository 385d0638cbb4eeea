import type { Endpoint } from "./dial.js";
import { codeError, errorKind } from "./error-kind.js";
import { H1Connection, kickOff, type H1Owner } from "./h1-connection.js";
import { OpenPool, type OpenModelPlan } from "./h1-open-pool.js";
import { InFlight } from "./in-flight.js";
import type { Outcomes, RequestTemplate, Transport } from "./transport.js";
import { nowMs } from "../clock.js";

/** Error kinds of requests that waited for a connection and never got one. */
const STOPPED = errorKind(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
const TIMED_OUT = errorKind(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));

/** An open model part that said nothing of its rate: sized for 1,000 req/s and the default cap. */
const DEFAULT_PLAN: OpenModelPlan = { ratePerS: 1000, maxInFlight: 1000 };

/**
 * The `fast` transport, for a request it could prebuild, to `http:` or `https:` (`endpoint`): the closed model over
 * the HTTP/1.1 fast path's connections (h1-connection.ts), each looping on its own; the open
 * models over a pool of the same connections that the schedule hands each due request to
 * (h1-open-pool.ts). Both count in one in-flight total.
 */
export class FastTransport implements Transport {
  private readonly flight = new InFlight();
  private readonly connections: H1Connection[] = [];
  private readonly owner: H1Owner & { more: (now: number) => boolean; slotStopped: () => void };
  private pool: OpenPool | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  firstSentMs: number | undefined;

  constructor(
    private readonly template: RequestTemplate,
    private readonly request: Buffer,
    private readonly outcomes: Outcomes,
    private readonly pipelining: number,
    private readonly endpoint: Endpoint,
  ) {
    const transport = this;
    this.owner = {
      outcomes,
      more: () => false,
      started: () => {
        this.flight.started();
        // The closed model's start (the open model's first request may be due well after it: a ramp from 0).
        if (this.pool === undefined) this.firstSentMs ??= nowMs();
      },
      ended: () => this.flight.settled(),
      slotStopped: () => undefined,
      get closed() {
        return transport.closed;
      },
    };
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, template.timeoutMs / 4)));
    this.sweeper.unref();
  }

  get inFlight(): number {
    return this.flight.count;
  }

  /** A new connection of this transport: the closed model's (`slots` loops) or the open pool's (`freed` given). */
  private connection(slots: number, freed?: (c: H1Connection) => void): H1Connection {
    return new H1Connection(this.owner, this.endpoint, this.request, this.template.method === "HEAD", slots, freed);
  }

  /** The open models' pool, made on first use (requests in flight per connection: the pipelining depth, 1 unless asked). */
  private openPool(): OpenPool {
    return (this.pool ??= new OpenPool((freed) => this.connection(this.pipelining, freed), this.pipelining, {
      started: () => this.flight.started(),
      failed: (kind, scheduledMs, endMs) => {
        // It never went out: no service time of its own.
        this.outcomes.error(kind, scheduledMs, endMs, endMs);
        this.flight.settled();
      },
    }));
  }

  /** The number of connections the open model opened so far (0 before it ran). */
  get openConnections(): number {
    return this.pool?.size ?? 0;
  }

  prepare(concurrency: number, open?: OpenModelPlan): void {
    if (concurrency === 0) return this.openPool().prepare(open ?? DEFAULT_PLAN);
    if (this.connections.length > 0) return;
    const count = Math.ceil(concurrency / this.pipelining);
    for (let i = 0; i < count; i++) {
      // The slots split as evenly as the pipelining depth allows: concurrency in all.
      const slots = Math.floor(concurrency / count) + (i < concurrency % count ? 1 : 0);
      this.connections.push(this.connection(slots));
    }
    // Connected ahead of the start, so that the start instant costs only the writes.
    for (const c of this.connections) c.connectAhead();
  }

  runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    this.prepare(concurrency);
    return new Promise<void>((resolve) => {
      let running = this.connections.reduce((n, c) => n + c.slots, 0);
      this.owner.more = more;
      this.owner.slotStopped = () => {
        if (--running === 0) resolve();
      };
      kickOff(this.connections.map((c) => () => c.start()));
    });
  }

  fire(scheduledMs: number): void {
    if (!this.closed) return this.openPool().fire(scheduledMs);
    // As undici does after close: the request is counted, as failed.
    this.flight.started();
    const now = nowMs();
    this.outcomes.error(STOPPED, scheduledMs, now, now);
    this.flight.settled();
  }

  /** Fails every request older than the request timeout (its connection goes with it). */
  private sweep(): void {
    const oldest = nowMs() - this.template.timeoutMs;
    for (const c of this.pool ? [...this.connections, ...this.pool.connections] : this.connections) {
      const sent = c.oldestSent;
      if (sent !== undefined && sent < oldest) c.fail(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
    }
    this.pool?.expire(TIMED_OUT, oldest);
  }

  waitForSlot(max: number, deadlineMs?: number, signal?: AbortSignal): Promise<boolean> {
    return this.flight.waitForSlot(max, deadlineMs, signal);
  }

  drain(deadlineMs: number): Promise<boolean> {
    return this.flight.drain(deadlineMs);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.connections) c.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
    this.pool?.expire(STOPPED);
    for (const c of this.pool?.connections ?? []) c.fail(codeError("the driver stopped sending", "UND_ERR_DESTROYED"));
  }
}
