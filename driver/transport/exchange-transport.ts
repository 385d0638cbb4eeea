import { nowMs } from "../clock.js";
import type { Exchange, ExchangeRequest, ExchangeResult } from "./exchange.js";
import { InFlight } from "./in-flight.js";
import type { OpenModelPlan, Outcomes, RequestTemplate, Transport } from "./transport.js";

const NOTHING = { body: false, headers: false };

/**
 * A {@link Transport} over an {@link Exchange}: the fixed request sent through the exchange's pool
 * and each result recorded (with its protocol). For what the fast paths do not carry: HTTP/2
 * requests too large for one frame each (over TLS by ALPN, with its HTTP/1.1 fallback, too).
 */
export class ExchangeTransport implements Transport {
  private readonly flight = new InFlight();
  private readonly request: ExchangeRequest;
  private closed = false;
  readonly firstSentMs = undefined;

  constructor(
    private readonly template: RequestTemplate,
    private readonly exchange: Exchange,
    private readonly outcomes: Outcomes,
    /** Connections opened ahead of the start. */
    private readonly connections: (concurrency: number, open: OpenModelPlan | undefined) => number,
  ) {
    this.request = { method: template.method, url: template.url, headers: template.headers, body: template.body };
  }

  get inFlight(): number {
    return this.flight.count;
  }

  prepare(concurrency: number, open?: OpenModelPlan): void {
    void this.exchange.prepare([this.template.url], this.connections(concurrency, open));
  }

  private record(r: ExchangeResult, scheduledMs: number): void {
    if (r.ok) {
      this.outcomes.response(r.status, r.bytes, scheduledMs, r.sentMs, r.endMs);
      if (r.protocol === "h2") this.outcomes.protocol?.("h2");
    } else this.outcomes.error(r.kind, scheduledMs, r.sentMs, r.endMs);
    this.flight.settled();
  }

  async runClosed(concurrency: number, more: (now: number) => boolean): Promise<void> {
    const loop = async () => {
      for (let now = nowMs(); !this.closed && more(now); now = nowMs()) {
        this.flight.started();
        this.record(await this.exchange.send(this.request, NOTHING), now);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  }

  fire(scheduledMs: number): void {
    this.flight.started();
    void this.exchange.send(this.request, NOTHING).then((r) => this.record(r, scheduledMs));
  }

  waitForSlot(max: number, deadlineMs?: number, signal?: AbortSignal): Promise<boolean> {
    return this.flight.waitForSlot(max, deadlineMs, signal);
  }

  drain(deadlineMs: number): Promise<boolean> {
    return this.flight.drain(deadlineMs);
  }

  async close(force: boolean): Promise<void> {
    this.closed = true;
    await this.exchange.close(force);
  }
}
