import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { Orchestrator } from "./orchestrator.js";
import type { Registry } from "prom-client";
import { swallowed } from "../metrics/swallowed.js";
import { createPrometheusRegistry } from "./prometheus.js";
import { file_kannon_v1_bus } from "../gen/kannon/v1/bus_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { sniffH2c } from "../rpc/h2c-sniff.js";
import { reflectionRoutes } from "../rpc/reflection-server.js";
import { orchestratorRoutes } from "./routes.js";
import { isDashboardPath, serveDashboard } from "./web.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** Options of {@link startServer}. */
export interface ServerOptions {
  orchestrator: Orchestrator;
  /** Address to bind; default 127.0.0.1. Anything off loopback requires `token`. */
  host?: string | undefined;
  /** Port; 0 picks a free one. */
  port?: number | undefined;
  /** Bearer token every call must carry (`authorization: Bearer …`). */
  token?: string | undefined;
  /** Browser origins allowed by CORS (exact match); none by default. */
  corsOrigins?: readonly string[] | undefined;
  /** Largest request message, checked before it is read or decoded; default {@link MAX_REQUEST_BYTES}. */
  readMaxBytes?: number | undefined;
  /** Largest CreateTest request of an authorized client (it carries data files); default {@link MAX_CREATE_TEST_BYTES}. */
  createTestMaxBytes?: number | undefined;
  /** Connection limits; defaults in {@link CONNECTION_LIMITS}. */
  limits?: Partial<ConnectionLimits> | undefined;
}

/** How the server bounds connections, before and after their first request. */
export interface ConnectionLimits {
  /** A connection that sends nothing for this long after it opens is closed. */
  firstByteTimeoutMs: number;
  /** Connections that have not sent a byte yet; beyond it, the oldest of them is closed. */
  maxSilent: number;
  /** Open connections; beyond it new ones are refused (closed at once). */
  maxConnections: number;
  /** HTTP/1.1: a request's headers must have arrived within this long. */
  headersTimeoutMs: number;
  /** HTTP/2: a session with no open stream for this long is closed. */
  idleSessionTimeoutMs: number;
}

/**
 * Default connection limits: silent connections cost at most 256 descriptors and 10 s, the
 * whole API at most 1,000 (leaving the process's other descriptors, e.g. the broker
 * connections kafkajs re-opens, to the rest of the orchestrator).
 */
export const CONNECTION_LIMITS: ConnectionLimits = {
  firstByteTimeoutMs: 10_000,
  maxSilent: 256,
  maxConnections: 1000,
  headersTimeoutMs: 10_000,
  idleSessionTimeoutMs: 60_000,
};

/** Default request size limit: a spec is far smaller (its body is at most 512 KiB). */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * CreateTest's limit for a client that passed authentication (a bearer token, or any client of a
 * server without one): the data files' 200 MB (MAX_DATA_BYTES) even as escaped JSON text (a quote
 * or line break takes two bytes), and the rest of the spec. A test whose files are larger gets
 * resource_exhausted naming the 200 MB limit from CreateTest itself; an unauthenticated request is
 * held to {@link MAX_REQUEST_BYTES}, so that nobody without the token makes the server read 400 MB.
 */
export const MAX_CREATE_TEST_BYTES = 2 * MAX_DATA_BYTES + 4 * 1024 * 1024;
const CREATE_TEST_PATH = `/${OrchestratorService.typeName}/${OrchestratorService.method.createTest.name}`;

/** A running control-plane server. */
export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Whether an authorization header carries the bearer token (compared in constant time). */
function hasToken(authorization: string | null | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(authorization ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    if (!hasToken(req.header.get("authorization"), token))
      throw new ConnectError("a valid bearer token is required (authorization: Bearer …)", Code.Unauthenticated);
    return next(req);
  };
}

/**
 * Without a token the API is for this machine only: a request must also name a loopback host, or
 * a web page could reach it through a DNS name that resolves to 127.0.0.1 (DNS rebinding).
 */
function loopbackHostOnly(): Interceptor {
  return (next) => async (req) => {
    const host = new URL(req.url).hostname.replace(/^\[|\]$/g, "");
    if (!LOOPBACK.has(host))
      throw new ConnectError(`host "${host}" is not a loopback name; without a token the API answers only 127.0.0.1, ::1 and localhost`, Code.PermissionDenied);
    return next(req);
  };
}

/**
 * `GET /metrics` in the Prometheus text format, under the API's rules: the bearer token when the
 * server has one, else a loopback Host name.
 */
async function serveMetrics(req: http.IncomingMessage, res: http.ServerResponse, registry: Registry, token: string | undefined): Promise<void> {
  if (token) {
    if (!hasToken(req.headers.authorization, token)) {
      res.writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" }).end("a valid bearer token is required\n");
      return;
    }
  } else {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    if (!LOOPBACK.has(host)) {
      res.writeHead(403, { "content-type": "text/plain" }).end(`host "${host}" is not a loopback name\n`);
      return;
    }
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType }).end(body);
  } catch (err) {
    swallowed("server.metrics", `orchestrator: GET /metrics failed: ${String(err)}`);
    res.writeHead(500, { "content-type": "text/plain" }).end(`metrics: ${String(err)}\n`);
  }
}

/** Closes an HTTP/2 session (GOAWAY) once it has had no open stream for `idleMs`. */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    stream.once("close", () => open--);
  });
  // Fires after idleMs without activity; a watch stream that is quiet for long stays open.
  session.setTimeout(idleMs, () => {
    if (open === 0) session.close();
  });
}

/**
 * Serves OrchestratorService on one port: gRPC over HTTP/2 cleartext, and Connect (JSON or binary)
 * and gRPC-Web over HTTP/1.1; gRPC server reflection (HTTP/2 only: it is a bidirectional stream); and `GET /metrics` (Prometheus) and the web dashboard (`GET /`) over HTTP/1.1. The first bytes of each connection pick the protocol.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  if (!LOOPBACK.has(host) && !options.token)
    throw new Error(`refusing to bind ${host} without a token: off loopback the API requires --token (or KANNON_TOKEN)`);
  const api = orchestratorRoutes(options.orchestrator);
  // gRPC server reflection (v1, v1alpha) for schema-less tools; the data plane's messages are
  // discoverable too. Same router, so the same interceptors guard it.
  const reflection = reflectionRoutes([OrchestratorService], [file_kannon_v1_bus]);
  const adapter = (readMaxBytes: number) =>
    connectNodeAdapter({
      routes: (router) => {
        api(router);
        reflection(router);
      },
      // Checked against Content-Length / the envelope's length before reading, and while reading:
      // a larger request gets resource_exhausted and is never held in memory.
      readMaxBytes,
      interceptors: options.token ? [bearer(options.token)] : [loopbackHostOnly()],
    });
  const small = adapter(options.readMaxBytes ?? MAX_REQUEST_BYTES);
  const large = adapter(options.createTestMaxBytes ?? MAX_CREATE_TEST_BYTES);
  // An authorized CreateTest may carry data files; anything else is held to the small limit.
  const handler: typeof small = (req, res) =>
    (req.url === CREATE_TEST_PATH && (!options.token || hasToken(req.headers.authorization, options.token)) ? large : small)(req, res);
  const origins = new Set(options.corsOrigins ?? []);
  const metrics = createPrometheusRegistry(options.orchestrator);
  // Header and request timeouts are checked every second (Node's default: every 30 s).
  const h1 = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
      void serveMetrics(req, res, metrics, options.token);
      return;
    }
    if (req.method === "GET" && isDashboardPath((req.url ?? "/").split("?")[0]!)) {
      void serveDashboard(req, res);
      return;
    }
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      res.setHeader("access-control-expose-headers", "grpc-status, grpc-message, grpc-status-details-bin, connect-content-encoding");
      if (req.method === "OPTIONS") {
        res.setHeader("access-control-allow-methods", "POST, GET, OPTIONS");
        res.setHeader(
          "access-control-allow-headers",
          "authorization, content-type, connect-protocol-version, connect-timeout-ms, x-grpc-web, x-user-agent, grpc-timeout",
        );
        res.setHeader("access-control-max-age", "7200");
        res.writeHead(204).end();
        return;
      }
    }
    handler(req, res);
  });
  const limits = { ...CONNECTION_LIMITS, ...options.limits };
  h1.headersTimeout = limits.headersTimeoutMs;
  // h1 never listens (connections are handed to it), and Node enforces its header and request
  // timeouts only on connections tracked from its 'listening' event on: without this, a request
  // whose headers never ended held its connection forever.
  h1.emit("listening");
  const h2 = http2.createServer(handler);
  h2.on("session", (session) => closeWhenIdle(session, limits.idleSessionTimeoutMs));
  const sockets = new Set<net.Socket>();
  /** Connections that have not sent a byte yet, oldest first. */
  const silent = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    silent.add(socket);
    if (silent.size > limits.maxSilent) {
      const oldest = silent.values().next().value!;
      silent.delete(oldest);
      oldest.destroy();
    }
    socket.setTimeout(limits.firstByteTimeoutMs, () => socket.destroy());
    socket.on("close", () => {
      sockets.delete(socket);
      silent.delete(socket);
    });
    sniffH2c(socket, h1, h2, () => {
      silent.delete(socket);
      socket.setTimeout(0);
    });
  });
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        h1.closeAllConnections();
        h1.close(() => undefined); // stops its connection checks (it was never listening: the callback gets that error)
        for (const s of sockets) s.destroy();
      });
    },
  };
}
