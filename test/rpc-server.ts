/**
 * A kannon.target.v1.TargetService made with connect-node for the RPC tests (the independent truth:
 * Connect's own server), served over Connect, gRPC and gRPC-Web on HTTP/1.1 and h2c at one port
 * (the first chunk sniffed for the h2 preface). It counts calls per method and code as it answered them.
 */
import { createServer as createH1Server } from "node:http";
import { createServer as createH2Server } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { EchoResponseSchema, FailResponseSchema, StreamResponseSchema, TargetService } from "../gen/kannon/target/v1/target_pb.js";

/** The server, its URL (`http://127.0.0.1:PORT`) and its counts: `"Echo ok"` → calls. */
export interface RpcTestServer {
  url: string;
  counts: Map<string, number>;
  /** Clears the counts and the methods' call numbers. */
  reset(): void;
  close(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

const snake = (code: Code) => Code[code].replace(/[A-Z]/g, (c, i: number) => (i > 0 ? "_" : "") + c.toLowerCase());

/** Starts the server on 127.0.0.1 at a free port. */
export async function startRpcServer(): Promise<RpcTestServer> {
  const counts = new Map<string, number>();
  const calls = new Map<string, number>();
  const count = (method: string, code: string) => counts.set(`${method} ${code}`, (counts.get(`${method} ${code}`) ?? 0) + 1);
  const next = (method: string) => {
    const n = (calls.get(method) ?? 0) + 1;
    calls.set(method, n);
    return n;
  };
  // Every call's code as sent: a thrown ConnectError's, ok otherwise (a deadline the server enforces is counted where it fires).
  const counted = async <T>(method: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> => {
    try {
      const out = await run();
      count(method, signal.aborted ? "deadline_exceeded" : "ok");
      return out;
    } catch (err) {
      count(method, snake(ConnectError.from(err).code));
      throw err;
    }
  };
  const routes = (router: ConnectRouter) =>
    router.service(TargetService, {
      echo: (req, ctx) =>
        counted("Echo", ctx.signal, async () => {
          if (req.delayMs > 0) await sleep(req.delayMs, ctx.signal);
          if (ctx.signal.aborted) throw new ConnectError("deadline", Code.DeadlineExceeded);
          return create(EchoResponseSchema, { text: req.text, padding: new Uint8Array(req.responseBytes).fill(120), call: BigInt(next("Echo")) });
        }),
      stream: (req, ctx) =>
        (async function* () {
          try {
            for (let i = 0; i < req.count; i++) {
              if (i > 0 && req.intervalMs > 0) await sleep(req.intervalMs, ctx.signal);
              if (ctx.signal.aborted) throw new ConnectError("deadline", Code.DeadlineExceeded);
              yield create(StreamResponseSchema, { index: i, padding: new Uint8Array(req.messageBytes).fill(121) });
            }
            count("Stream", "ok");
          } catch (err) {
            count("Stream", snake(ConnectError.from(err).code));
            throw err;
          }
        })(),
      fail: (req, ctx) =>
        counted("Fail", ctx.signal, async () => {
          const n = next("Fail");
          const code = /^\d+$/.test(req.code) ? Number(req.code) : Object.entries(Code).find(([, v]) => typeof v === "number" && snake(v) === req.code)?.[1];
          const every = Math.max(1, req.every);
          if (code === 0 || (n - 1) % every !== 0) return create(FailResponseSchema, { call: BigInt(n) });
          throw new ConnectError(req.message || "failed as asked", typeof code === "number" && Code[code] ? code : Code.InvalidArgument);
        }),
    });
  const handler = connectNodeAdapter({ routes });
  const h1 = createH1Server(handler);
  const h2 = createH2Server(handler);
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", (chunk) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.subarray(0, 14).toString("latin1") === "PRI * HTTP/2.0") h2.emit("connection", socket);
      else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    reset: () => {
      counts.clear();
      calls.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
