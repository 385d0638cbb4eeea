import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { codeFromString, codeToString } from "@connectrpc/connect/protocol-connect";
import {
  EchoResponseSchema,
  FailResponseSchema,
  StreamResponseSchema,
  TargetService,
  type EchoRequest,
  type FailRequest,
  type StreamRequest,
  type StreamResponse,
} from "../gen/kannon/target/v1/target_pb.js";
import { MAX_DELAY_MS } from "./delay.js";

/** The most messages one `Stream` call sends. */
export const MAX_STREAM_COUNT = 100_000;
/** The largest `response_bytes` (Echo) and `message_bytes` (Stream): 4 MiB, gRPC's default message limit. */
export const MAX_PADDING_BYTES = 4 * 1024 * 1024;

/** Calls per method (`kannon.target.v1.TargetService/Echo`) and code (`ok`, `unavailable`, …). */
export type RpcCounts = Record<string, Record<string, number>>;

/** The target's Connect service: its routes, the interceptor that counts its calls, and the counts. */
export interface TargetServiceParts {
  /** Registers kannon.target.v1.TargetService on a router. */
  routes(router: ConnectRouter): void;
  /**
   * Counts each call of TargetService once it ends: `ok`, or the code it failed with (a deadline
   * that fired, the server's or the client's: `deadline_exceeded`; a client gone mid-call: `canceled`). Calls of other services
   * (reflection) pass uncounted. A call the method never got (its request did not decode) is not
   * counted: Connect answers it before any handler runs.
   */
  interceptor: Interceptor;
  /** A copy of the counts since start or the last reset. */
  counts(): RpcCounts;
  /** Zeroes the counts and the call numbers; calls still running then are not counted when they end. */
  reset(): void;
}

// A shared zero-filled buffer: padding is a view of it, never allocated per call.
let zeros = new Uint8Array(0);
function padding(bytes: number, field: string): Uint8Array {
  if (bytes > MAX_PADDING_BYTES) throw new ConnectError(`${field} must be at most ${MAX_PADDING_BYTES}, got ${bytes}`, Code.InvalidArgument);
  if (zeros.length < bytes) zeros = new Uint8Array(Math.min(MAX_PADDING_BYTES, Math.max(bytes, zeros.length * 2, 4096)));
  return zeros.subarray(0, bytes);
}

function checkMs(ms: number, field: string): void {
  if (ms > MAX_DELAY_MS) throw new ConnectError(`${field} must be at most ${MAX_DELAY_MS}, got ${ms}`, Code.InvalidArgument);
}

/**
 * A client that gives up at its deadline resets the call (connect-node's HTTP/2 client with
 * INTERNAL_ERROR, an HTTP/1.1 client by closing) about when the server's own deadline fires: a call
 * aborted with at most this much of its deadline left ended by the deadline.
 */
export const DEADLINE_SLACK_MS = 100;

/** Why a call's signal fired: its deadline (see {@link DEADLINE_SLACK_MS}), else the client went away. */
function abortError(ctx: HandlerContext): ConnectError {
  const reason = ConnectError.from(ctx.signal.reason);
  if (reason.code === Code.DeadlineExceeded) return reason;
  const left = ctx.timeoutMs();
  if (left !== undefined && left <= DEADLINE_SLACK_MS) return new ConnectError("the call's deadline passed", Code.DeadlineExceeded, undefined, undefined, reason);
  return new ConnectError("the client went away", Code.Canceled, undefined, undefined, reason);
}

/** Waits `ms`; rejects (see {@link abortError}) as soon as the call's signal fires. */
function sleep(ms: number, ctx: HandlerContext): Promise<void> {
  const signal = ctx.signal;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(ctx));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(ctx));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The code FailRequest.code names: snake case (`unavailable`) or the gRPC number as text (`"14"`);
 * `ok`/`"0"`/empty: none (the call answers OK). Anything else is the caller's mistake.
 */
export function failCode(name: string): Code | undefined {
  if (name === "" || name === "ok" || name === "0") return undefined;
  if (/^\d{1,2}$/.test(name)) {
    const n = Number(name);
    if (n >= 1 && n <= 16) return n as Code;
  } else {
    const code = codeFromString(name);
    if (code !== undefined) return code;
  }
  throw new ConnectError(`code ${JSON.stringify(name)} is not a Connect code name (unavailable, deadline_exceeded, …) or a gRPC number 0-16`, Code.InvalidArgument);
}

/** Creates the service, its counting interceptor and its counters. */
export function createTargetService(): TargetServiceParts {
  let calls = new Map<string, number>();
  let counted = new Map<string, Map<string, number>>();
  let epoch = 0;
  const nextCall = (method: string): number => {
    const n = (calls.get(method) ?? 0) + 1;
    calls.set(method, n);
    return n;
  };

  async function echo(req: EchoRequest, ctx: HandlerContext) {
    checkMs(req.delayMs, "delay_ms");
    const pad = padding(req.responseBytes, "response_bytes");
    const call = nextCall("Echo");
    if (req.delayMs > 0) await sleep(req.delayMs, ctx);
    return create(EchoResponseSchema, { text: req.text, padding: pad, call: BigInt(call) });
  }

  async function* stream(req: StreamRequest, ctx: HandlerContext): AsyncIterable<StreamResponse> {
    if (req.count > MAX_STREAM_COUNT) throw new ConnectError(`count must be at most ${MAX_STREAM_COUNT}, got ${req.count}`, Code.InvalidArgument);
    checkMs(req.intervalMs, "interval_ms");
    const pad = padding(req.messageBytes, "message_bytes");
    nextCall("Stream");
    for (let index = 0; index < req.count; index++) {
      if (index > 0 && req.intervalMs > 0) await sleep(req.intervalMs, ctx);
      else if (ctx.signal.aborted) throw abortError(ctx);
      yield create(StreamResponseSchema, { index, padding: pad });
    }
  }

  function fail(req: FailRequest) {
    const code = failCode(req.code);
    const call = nextCall("Fail");
    const every = Math.max(1, req.every);
    if (code !== undefined && (call - 1) % every === 0) {
      throw new ConnectError(req.message || `failing as asked (call ${call}, every ${every})`, code);
    }
    return create(FailResponseSchema, { call: BigInt(call) });
  }

  const record = (key: string, code: Code | undefined, callEpoch: number): void => {
    if (callEpoch !== epoch) return;
    let byCode = counted.get(key);
    if (byCode === undefined) counted.set(key, (byCode = new Map()));
    // Bounded: the keys are this service's three methods and the 17 codes.
    const name = code === undefined ? "ok" : codeToString(code);
    byCode.set(name, (byCode.get(name) ?? 0) + 1);
  };

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.service.typeName !== TargetService.typeName) return next(req);
    const key = `${TargetService.typeName}/${req.method.name}`;
    const callEpoch = epoch;
    let res;
    try {
      res = await next(req);
    } catch (err) {
      record(key, ConnectError.from(err).code, callEpoch);
      throw err;
    }
    if (!res.stream) {
      record(key, undefined, callEpoch);
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        let code: Code | undefined = Code.Canceled;
        try {
          yield* messages;
          code = undefined;
        } catch (err) {
          code = ConnectError.from(err).code;
          throw err;
        } finally {
          // Left early (the client went away, the write failed): canceled.
          record(key, code, callEpoch);
        }
      })(),
    };
  };

  return {
    routes(router) {
      router.service(TargetService, { echo, stream, fail });
    },
    interceptor,
    counts() {
      const out: RpcCounts = {};
      for (const [key, byCode] of counted) out[key] = Object.fromEntries(byCode);
      return out;
    },
    reset() {
      calls = new Map();
      counted = new Map();
      epoch++;
    },
  };
}
