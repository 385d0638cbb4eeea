import { codeError } from "./error-kind.js";
import { H1Connection, kickOff, type H1Owner } from "./h1-connection.js";
import { InFlight } from "./in-flight.js";
import type { Outcomes, RequestTemplate, Transport } from "./transport.js";
import { UndiciTransport } from "./undici.js";
import { nowMs } from "../clock.js";

/**
 * The `fast` transport: the closed model over the HTTP/1.1 fast path's connections
 * (h1-connection.ts), for a request it could prebuild; the open models over undici, made on first
 * use and counted in the same in-flight total.
 */
export class FastTransport implements Transport {
  private readonly flight = new InFlight();
  private readonly connections: H1Connection[] = [];
  private readonly owner: H1Owner & { more: (now: number) => boolean; slotStopped: () => void };
  private undici: UndiciTransport | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  firstSentMs: number | undefined;

  constructor(
    private readonly template: RequestTemplate,
    private readonly request: Buffer,
    private readonly outcomes: Outcomes,
    private readonly pipelining: number,
  ) {
    const transport = this;
    this.owner = {
      outcomes,
      more: () => false,
      started: () => {
        this.flight.started();
        this.firstSentMs ??= nowMs();
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

  /** The open models' transport, made on first use. */
  private fallback(): UndiciTransport {
    return (this.undici ??= new UndiciTransport(this.template, this.outcomes, 1, this.flight));
  }

  prepare(concurrency: number): void {
    if (concurrency === 0) return this.fallback().prepare(0);
    if (this.connections.length > 0) return;
    const url = this.template.url;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || 80;
    const count = Math.ceil(concurrency / this.pipelining);
    for (let i = 0; i < count; i++) {
      // The slots split as evenly as the pipelining depth allows: concurrency in all.
      const slots = Math.floor(concurrency / count) + (i < concurrency % count ? 1 : 0);
      this.connections.push(new H1Connection(this.owner, host, port, this.request, this.template.method === "HEAD", slots));
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
    this.fallback().fire(scheduledMs);
  }

  /** Fails every request older than the request timeout (its connection goes with it). */
  private sweep(): void {
    const oldest = nowMs() - this.template.timeoutMs;
    for (const c of this.connections) {
      const sent = c.oldestSent;
      if (sent !== undefined && sent < oldest) c.fail(codeError("request timed out", "KANNON_REQUEST_TIMEOUT"));
    }
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
    await this.undici?.close(force);
  }
}
