import { Pool, type Dispatcher } from "undici";
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
  private readonly dispatchOptions: Dispatcher.DispatchOptions;
  inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private slotWaiters: (() => void)[] = [];

  constructor(
    template: RequestTemplate,
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
    this.dispatchOptions = {
      origin: template.url.origin,
      path: template.url.pathname + template.url.search,
      method: template.method as Dispatcher.HttpMethod,
      headers: { ...template.headers },
      body: template.body ? Buffer.from(template.body) : null,
    };
  }

  /**
   * Sends one request; `scheduledMs` is its scheduled start (epoch ms), or its send time. Resolves
   * when the response has been read and recorded (or the error recorded); never rejects.
   * Uses undici's dispatch handler directly: no response object, no body stream per request.
   */
  fire(scheduledMs?: number): Promise<void> {
    this.inFlight++;
    const sent = nowMs();
    const scheduled = scheduledMs ?? sent;
    return new Promise<void>((resolve) => {
      let status = 0;
      let bytes = 0;
      const done = (error: unknown) => {
        if (error === undefined) this.recorder.response(status, bytes, scheduled, sent, nowMs());
        else this.recorder.error(errorKind(error), scheduled, sent, nowMs());
        this.settled();
        resolve();
      };
      try {
        // The classic handler interface: undici 7's Client still asserts onConnect/onHeaders/….
        this.pool.dispatch(this.dispatchOptions, {
          onConnect: () => undefined,
          onHeaders: (statusCode) => {
            status = statusCode;
            return true;
          },
          onData: (chunk) => {
            bytes += chunk.length;
            return true;
          },
          onComplete: () => done(undefined),
          onError: (err) => done(err),
        });
      } catch (err) {
        done(err);
      }
    });
  }

  private settled(): void {
    this.inFlight--;
    const slot = this.slotWaiters.shift();
    if (slot) slot();
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
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
