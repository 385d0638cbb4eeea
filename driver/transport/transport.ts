/**
 * What the load's executors send requests through. A transport is built once per request shape
 * (today a test's one request; later each compiled step of a scenario) with the sink its outcomes
 * go to, and is chosen by an explicit {@link TransportKind} where the load part is built.
 *
 * Kinds: `fast` (the default) sends the closed and the open models over the HTTP/1.1 fast path
 * (`http:` and `https:` requests it can prebuild exactly: h1-connection.ts, h1-open-pool.ts; TLS
 * measured faster there than over undici, docs/benchmarks.md) and everything else over undici;
 * `undici` sends everything over undici (comparisons in the bench).
 * Another protocol (HTTP/2, Connect) is another implementation of {@link Transport}: the executors
 * do not change.
 */
import type { ConnectionOptions } from "./connection-options.js";
import { endpointOf } from "./dial.js";
import { FastTransport } from "./fast.js";
import { createH2Transport } from "./h2-transport.js";
import type { OpenModelPlan } from "./h1-open-pool.js";
import { buildRequest } from "./h1-request.js";
import { UndiciTransport } from "./undici.js";

export type { OpenModelPlan } from "./h1-open-pool.js";

/** The request a transport sends, resolved once per test. */
export interface RequestTemplate {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  timeoutMs: number;
}

/**
 * Where a transport reports each request's outcome (the load's recorder implements it; a
 * per-step recorder can be one sink per step). Times are epoch milliseconds.
 */
export interface Outcomes {
  /** A request answered with an HTTP status and `bytes` of body. */
  response(status: number, bytes: number, scheduledMs: number, sentMs: number, endMs: number): void;
  /** A request that failed without a response, by error kind (error-kind.ts). */
  error(kind: string, scheduledMs: number, sentMs: number, endMs: number): void;
  /**
   * An RPC that ended with an RPC status (bus.proto MetricsMessage.code_counts): `code` in snake
   * case (`ok`, `unavailable`, …); a code other than `ok` is a failure. `messages` response messages
   * received, the first at `firstMessageMs` (NaN: none, or a unary call, whose latency says it).
   * Its HTTP status is not recorded.
   */
  rpc?(code: string, bytes: number, scheduledMs: number, sentMs: number, endMs: number, messages: number, firstMessageMs: number): void;
  /** The protocol of the response just recorded by response() or rpc(), when it is not `http/1.1`. */
  protocol?(name: "h2" | "http/1.1"): void;
  /** A TLS handshake completed, taking `ms` from the TCP connection to its end. */
  handshake?(ms: number): void;
}

/** Which transport sends a part's requests. */
export type TransportKind = "fast" | "undici";

/** Every {@link TransportKind}, for checking an option. */
export const TRANSPORT_KINDS: readonly TransportKind[] = ["fast", "undici"];

/** Sends one request shape and reports each outcome. Never throws for a failed request: it is an outcome. */
export interface Transport {
  /** Requests sent and not yet ended. */
  readonly inFlight: number;
  /** When the closed model's first request went out (epoch ms), when a transport knows it precisely. */
  readonly firstSentMs: number | undefined;
  /**
   * Opens what `concurrency` closed loops need ahead of the start; 0: the open model, whose
   * connections are sized from `open` (its rate and cap) when the transport opens them ahead.
   */
  prepare(concurrency: number, open?: OpenModelPlan): void;
  /**
   * Closed model: keeps `concurrency` requests in flight until `more(now)` says stop (asked before
   * every request, after the previous one of its loop is recorded; `now` is epoch ms) or the
   * transport is closed. Resolves when every loop has stopped and its last request has ended.
   */
  runClosed(concurrency: number, more: (now: number) => boolean): Promise<void>;
  /** Open model: sends one request now; its latency counts from `scheduledMs` (epoch ms). */
  fire(scheduledMs: number): void;
  /** Resolves true once fewer than `max` requests are in flight; false at `deadlineMs` (epoch) or when `signal` aborts. */
  waitForSlot(max: number, deadlineMs?: number, signal?: AbortSignal): Promise<boolean>;
  /** Resolves true when no request is in flight, false at `deadlineMs` (epoch). */
  drain(deadlineMs: number): Promise<boolean>;
  /** Stops every loop and closes the connections; with `force`, aborts whatever is still in flight. */
  close(force: boolean): Promise<void>;
}

/** Options of {@link createTransport}. */
export interface TransportOptions {
  /** Default `fast`. */
  kind?: TransportKind | undefined;
  /** Closed model: requests in flight per connection (HTTP/1.1 pipelining; default 1). */
  pipelining?: number | undefined;
  /** The test's connection options (HTTP version, HTTP/2 streams and connections, TLS); default HTTP/1.1. */
  http?: ConnectionOptions | undefined;
}

/**
 * The transport for `request`, reporting to `outcomes`. An https request goes over TLS with
 * `o.http.tls` on either kind; with a handshake per request there is one request per connection
 * (no pipelining).
 */
export function createTransport(request: RequestTemplate, outcomes: Outcomes, o: TransportOptions = {}): Transport {
  const perRequest = o.http?.handshakePerRequest ?? false;
  const pipelining = perRequest ? 1 : (o.pipelining ?? 1);
  const kind = o.kind ?? "fast";
  if (!TRANSPORT_KINDS.includes(kind)) throw new RangeError(`transport must be one of ${TRANSPORT_KINDS.join(", ")}, got ${String(kind)}`);
  if (o.http?.version === 2) return createH2Transport(request, outcomes, kind, o.http);
  const prebuilt = kind === "fast" ? buildRequest(request.url, request.method, request.headers, request.body) : undefined;
  const endpoint = endpointOf(request.url, o.http?.tls, perRequest);
  return prebuilt ? new FastTransport(request, prebuilt, outcomes, pipelining, endpoint) : new UndiciTransport(request, outcomes, pipelining, endpoint);
}
