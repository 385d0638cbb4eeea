import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { reflectionRoutes } from "../rpc/reflection-server.js";
import { bump } from "./bounded-count.js";
import { MAX_DELAY_MS, parseDelayMs } from "./delay.js";
import { createFlowApi } from "./flow-api.js";
import type { FlowCounts } from "./flow-api.js";
import { listenOnePort, type TargetTls } from "./listen.js";
import { parseTargetArgs } from "./target-args.js";
import { createTargetService, MAX_PADDING_BYTES, type RpcCounts } from "./target-service.js";

/** Paths of RPCs: the service's procedures (counted) and reflection's (not counted). */
const RPC_PREFIX = `/${TargetService.typeName}/`;
const REFLECTION_PREFIX = "/grpc.reflection.";

export { MAX_DELAY_MS } from "./delay.js";
export { MAX_FLOW_KEYS, ROW_ID_HEADER, passwordFor } from "./flow-api.js";
export type { FlowCounts } from "./flow-api.js";
export type { TargetTls } from "./listen.js";
export { parseTargetArgs } from "./target-args.js";
export { MAX_PADDING_BYTES, MAX_STREAM_COUNT, type RpcCounts } from "./target-service.js";

/** How to start a load-test target. */
export interface TargetOptions {
  /** TCP port to listen on; 0 or absent picks a free port. */
  port?: number;
  /** Address to bind; defaults to `127.0.0.1`. */
  host?: string;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this key and certificate; mutual TLS with a client CA. */
  tls?: TargetTls;
}

/**
 * The target's counters, as served by `GET /metrics`. Requests to `/metrics` and `/reset`
 * themselves are never counted, so a load test can compare its own counts exactly. The flow API's
 * counters (per user, token, item and data row) are described in {@link FlowCounts}.
 */
export interface TargetCounts extends FlowCounts {
  /** Requests that arrived since start (or the last reset). */
  requests: number;
  /** Responses that finished since start (or the last reset), for requests counted in `requests`. */
  responses: number;
  /**
   * Requests per path (the URL path without its query; the flow API's `/items/ID` under its route,
   * `/items/{id}`). At most {@link MAX_PATH_KEYS} distinct paths are kept; requests to further
   * paths are counted under `"(other)"`.
   */
  byPath: Record<string, number>;
  /** Responses per HTTP status code (as a string key), for the responses counted in `responses`. */
  byStatus: Record<string, number>;
  /**
   * Calls of kannon.target.v1.TargetService per method and code, over any protocol:
   * `{"kannon.target.v1.TargetService/Echo": {ok: 3, unavailable: 1}}`. Bounded by construction
   * (three methods, seventeen codes). Each call is also one request in `requests`, `byPath` (under
   * its procedure path) and `byStatus` (its HTTP status: 200 for gRPC and gRPC-Web whatever the
   * code). Reflection calls are the load test's bookkeeping, like `/metrics`: never counted.
   */
  rpc: RpcCounts;
  /** When counting began: the start of the server or the last reset (ISO 8601). */
  startedAt: string;
}

/** A running load-test target. */
export interface Target {
  /** Base URL, without a trailing slash, e.g. `http://127.0.0.1:41234` (`https://` with TLS). */
  url: string;
  /** The port the server actually listens on. */
  port: number;
  /** A snapshot of the counters (a copy: later requests do not change it). */
  counts(): TargetCounts;
  /** Zeroes the counters, like `POST /reset`. */
  reset(): void;
  /** Stops the server and destroys its connections, idle or not; resolves once it is closed. */
  close(): Promise<void>;
}

/** The most distinct paths `byPath` keeps, so random paths cannot grow memory without bound. */
export const MAX_PATH_KEYS = 1000;

const TEXT = "text/plain; charset=utf-8";

function fixed(status: number, contentType: string, body: string): { status: number; headers: Record<string, string>; body: Buffer } {
  const bytes = Buffer.from(body, "utf8");
  return { status, headers: { "content-type": contentType, "content-length": String(bytes.length) }, body: bytes };
}

// Responses that never change are built once, not per request.
const PING = fixed(200, TEXT, "pong");
const ROOT = fixed(
  200,
  TEXT,
  "Kannon load-test target.\nGET /ping, GET /delay?ms=N, GET /metrics, POST /reset.\n" +
    "Flow API: POST /login, GET /items/{id}, POST /cart, GET /search?q=.\n" +
    "RPC: kannon.target.v1.TargetService.\n",
);
const OK = fixed(200, TEXT, "ok");
const NOT_FOUND = fixed(404, TEXT, "not found\n");
const METRICS_NOT_ALLOWED = fixed(405, TEXT, "method not allowed: use GET /metrics\n");
const RESET_NOT_ALLOWED = fixed(405, TEXT, "method not allowed: use POST /reset\n");
const BAD_DELAY = fixed(400, TEXT, `bad request: /delay needs ms, an integer from 0 to ${MAX_DELAY_MS}\n`);
const METRICS_NOT_ALLOWED_HEADERS = { ...METRICS_NOT_ALLOWED.headers, allow: "GET, HEAD" };
const RESET_NOT_ALLOWED_HEADERS = { ...RESET_NOT_ALLOWED.headers, allow: "POST" };

function send(res: ServerResponse, reply: { status: number; headers: Record<string, string>; body: Buffer }, headers = reply.headers): void {
  // For HEAD, node:http keeps the headers (content-length included) and drops the body.
  res.writeHead(reply.status, headers).end(reply.body);
}


/**
 * Starts a load-test target and resolves once it listens. One port serves HTTP/1.1 (keep-alive on)
 * and HTTP/2: h2c with prior knowledge in cleartext, or HTTPS with `tls` (h2 and HTTP/1.1 by ALPN,
 * mutual TLS with a client CA), and every endpoint answers over each.
 *
 * Endpoints: `/ping` → `pong`; `/` → a short text naming the target; `/delay?ms=N` → `ok` after N ms
 * (N an integer in 0..60000, else 400) — these three accept any method and ignore a request body;
 * `GET /metrics` → the counters as JSON (405 for other methods than GET and HEAD);
 * `POST /reset` → 204, zeroes the counters (405 for other methods); the flow API (`POST /login`,
 * `GET /items/{id}`, `POST /cart`, `GET /search?q=`, see `flow-api.ts`);
 * `kannon.target.v1.TargetService` over Connect, gRPC and gRPC-Web (see `target-service.ts`) and
 * gRPC server reflection; anything else → 404.
 */
export async function createTarget(options: TargetOptions = {}): Promise<Target> {
  const host = options.host ?? "127.0.0.1";
  const requestedPort = options.port ?? 0;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65_535) {
    throw new Error(`target: port must be an integer from 0 to 65535, got ${String(requestedPort)}`);
  }

  let requests = 0;
  let responses = 0;
  let byPath = new Map<string, number>();
  // Indexed by status code: counting a response allocates nothing.
  let byStatus = new Uint32Array(1000);
  const flow = createFlowApi();
  const service = createTargetService();
  let startedAt = new Date().toISOString();
  // Bumped by reset: a response finishing after a reset belongs to a request counted before it,
  // so it is not counted either, and `responses` never exceeds `requests`.
  let epoch = 0;

  function reset(): void {
    requests = 0;
    responses = 0;
    byPath = new Map();
    byStatus = new Uint32Array(1000);
    flow.reset();
    service.reset();
    startedAt = new Date().toISOString();
    epoch++;
  }

  function counts(): TargetCounts {
    const statuses: Record<string, number> = {};
    byStatus.forEach((n, status) => {
      if (n > 0) statuses[status] = n;
    });
    return { requests, responses, byPath: Object.fromEntries(byPath), byStatus: statuses, ...flow.counts(), rpc: service.counts(), startedAt };
  }

  function count(path: string, res: ServerResponse): void {
    requests++;
    bump(byPath, path, MAX_PATH_KEYS);
    const requestEpoch = epoch;
    res.on("finish", () => {
      if (requestEpoch !== epoch) return;
      responses++;
      const status = res.statusCode;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    });
  }

  const rpc = connectNodeAdapter({
    routes(router) {
      service.routes(router);
      reflectionRoutes([TargetService])(router);
    },
    interceptors: [service.interceptor],
    // A request message is held whole before it is decoded: bounded like the largest answer.
    readMaxBytes: MAX_PADDING_BYTES + 64 * 1024,
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);

    // Not counted: the load test's own bookkeeping.
    if (path === "/metrics") {
      if (req.method !== "GET" && req.method !== "HEAD") return send(res, METRICS_NOT_ALLOWED, METRICS_NOT_ALLOWED_HEADERS);
      const body = Buffer.from(JSON.stringify(counts()), "utf8");
      res
        .writeHead(200, { "content-type": "application/json", "content-length": String(body.length), "cache-control": "no-store" })
        .end(body);
      return;
    }
    if (path === "/reset") {
      if (req.method !== "POST") return send(res, RESET_NOT_ALLOWED, RESET_NOT_ALLOWED_HEADERS);
      reset();
      res.writeHead(204).end();
      return;
    }
    if (path.startsWith(REFLECTION_PREFIX)) return rpc(req, res);

    // A request body left unread is drained by node:http once the response finishes.
    if (path === "/ping") {
      count(path, res);
      return send(res, PING);
    }
    if (path.startsWith(RPC_PREFIX)) {
      count(path, res);
      return rpc(req, res);
    }
    const route = flow.route(path);
    if (route !== undefined) {
      count(route, res);
      return flow.handle(route, path, q === -1 ? "" : url.slice(q + 1), req, res);
    }
    count(path, res);
    if (path === "/") return send(res, ROOT);
    if (path === "/delay") {
      const ms = parseDelayMs(q === -1 ? null : new URLSearchParams(url.slice(q + 1)).get("ms"));
      if (ms === undefined) return send(res, BAD_DELAY);
      // Drain the body now: the response waits, and an unread body would hold the socket back.
      req.resume();
      const timer = setTimeout(() => send(res, OK), ms);
      // The client went away (or close() destroyed the socket): drop the pending reply.
      res.on("close", () => clearTimeout(timer));
      return;
    }
    send(res, NOT_FOUND);
  }

  const h1 = createServer(handle);
  // Longer than common client pools keep idle sockets, so the client, not the server, closes them.
  h1.keepAliveTimeout = 65_000;
  // Must exceed keepAliveTimeout, or a request arriving on a long-idle socket can be cut off.
  h1.headersTimeout = 66_000;
  // The longest /delay plus slack.
  h1.requestTimeout = MAX_DELAY_MS + 30_000;
  // No cap on requests per keep-alive socket.
  h1.maxRequestsPerSocket = 0;
  // The compatibility API gives every endpoint the same request and response methods over HTTP/2.
  const h2 = http2.createServer({ maxSessionMemory: 64 }, handle as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);

  const listener = await listenOnePort(h1, h2, host, requestedPort, options.tls);
  return {
    url: `${options.tls ? "https" : "http"}://${urlHost(host)}:${listener.port}`,
    port: listener.port,
    counts,
    reset,
    close: () => listener.close(),
  };
}

/** The host part of the target's URL: loopback for a wildcard bind, brackets for IPv6. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Run directly (`node --import tsx target/target.ts --port 8080`): serve until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  let options: TargetOptions;
  try {
    options = parseTargetArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`target: ${(err as Error).message}`);
    process.exitCode = 2;
    return;
  }
  const target = await createTarget(options);
  console.log(`kannon target listening on ${target.url}`);
  const stop = (): void => {
    void target.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((err: unknown) => {
    console.error(`target: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
