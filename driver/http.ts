import { Pool } from "undici";
import type { IntervalRecorder } from "./recorder.js";
import { nowMs } from "./clock.js";

/** The request every driver sends, resolved once per test. */
export interface RequestTemplate {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  timeoutMs: number;
}

/** Classifies a failed request into a stable error kind for reports. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connect_refused";
    case "UND_ERR_CONNECT_TIMEOUT":
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "ETIMEDOUT":
      return "timeout";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return "reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "dns";
    case "UND_ERR_ABORTED":
    case "UND_ERR_DESTROYED":
    case "UND_ERR_CLOSED":
      return "aborted";
    default:
      return "other";
  }
}

/**
 * Sends requests from one driver to the target over an undici pool, recording each outcome.
 * The request loop only measures; it never logs or allocates per-request containers.
 */
export class HttpFirer {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;
  inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private slotWaiters: (() => void)[] = [];

  constructor(
    private readonly template: RequestTemplate,
    private readonly recorder: IntervalRecorder,
    connections: number | null,
  ) {
    this.pool = new Pool(template.url.origin, {
      connections,
      pipelining: 1,
      headersTimeout: template.timeoutMs,
      bodyTimeout: template.timeoutMs,
      connect: { timeout: template.timeoutMs },
      keepAliveTimeout: 30_000,
    });
    this.path = template.url.pathname + template.url.search;
    this.headers = { ...template.headers };
  }

  /** Sends one request; `scheduledMs` is its scheduled start (epoch ms), or its send time. */
  async fire(scheduledMs?: number): Promise<void> {
    this.inFlight++;
    const sent = nowMs();
    const scheduled = scheduledMs ?? sent;
    try {
      const res = await this.pool.request({
        path: this.path,
        method: this.template.method as "GET",
        headers: this.headers,
        body: this.template.body ?? null,
      });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      this.recorder.response(res.statusCode, bytes, scheduled, sent, nowMs());
    } catch (err) {
      this.recorder.error(errorKind(err), scheduled, sent, nowMs());
    } finally {
      this.inFlight--;
      const slot = this.slotWaiters.shift();
      if (slot) slot();
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Resolves when fewer than `max` requests are in flight. */
  waitForSlot(max: number): Promise<void> {
    if (this.inFlight < max) return Promise.resolve();
    return new Promise<void>((resolve) => this.slotWaiters.push(() => resolve())).then(() => this.waitForSlot(max));
  }

  /** Resolves when no request is in flight, or after `deadlineMs` (epoch). */
  async drain(deadlineMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - nowMs()));
    });
    const drained = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return drained;
  }

  /** Closes the pool; with `force`, aborts whatever is still in flight. */
  async close(force: boolean): Promise<void> {
    if (force) await this.pool.destroy();
    else await this.pool.close();
  }
}
