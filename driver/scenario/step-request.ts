import type { CompiledScenario, CompiledStep } from "../../scenario/compile.js";
import { isConstant, renderTemplate, type RenderContext } from "../../scenario/template.js";
import type { RpcCall } from "../../rpc/wire.js";
import type { ExchangeRequest } from "../transport/exchange.js";

/** The error kind of an RPC step whose rendered request JSON does not fit its message (nothing was sent). */
export const INVALID_RPC_REQUEST = "invalid_rpc_request";

/** What of a step's request is the same for every iteration, built once. */
interface Prepared {
  /** The URL when its template is constant. */
  url: URL | undefined;
  /** The headers when every value is constant. */
  headers: Record<string, string> | undefined;
  /** The body when it is constant (undefined: no body, or a template). */
  body: string | undefined;
  /** An RPC step's call, and its body encoded once when its request JSON is constant. */
  call: RpcCall | undefined;
  rpcBody: Uint8Array | undefined;
}

/**
 * Builds steps' requests: the constant parts once, the templates rendered per iteration. A relative
 * URL (a path starting with `/`) is resolved against the test's target_url origin. An RPC step's
 * request is its call's ({@link RpcCall.request}: an RpcRequest) at its URL's origin, its headers
 * the metadata, its rendered request JSON the message.
 */
export class StepRequests {
  /** The origins of the steps whose URL is constant: connections to them can be opened ahead. */
  readonly origins: URL[];
  private readonly prepared: Prepared[] = [];
  private readonly base: string;
  /** Rendered URL texts seen so far: their URL, or null when not an http(s) URL. */
  private readonly resolved = new Map<string, URL | null>();

  /** `calls`: each RPC step's call by step index (rpc-steps.ts rpcCalls). */
  constructor(scenarios: readonly CompiledScenario[], targetUrl: URL, calls: readonly (RpcCall | undefined)[] = []) {
    this.base = targetUrl.origin;
    const origins = new Map<string, URL>();
    for (const s of scenarios)
      for (const step of s.steps) {
        const call = calls[step.index];
        let url = isConstant(step.url) ? this.resolve(step.url.literals[0]!) : undefined;
        if (url) origins.set(url.origin, new URL(url.origin));
        if (url && call) url = call.url(url);
        const constantHeaders = step.headers.every(([, t]) => isConstant(t));
        const headers = constantHeaders ? Object.fromEntries(step.headers.map(([name, t]) => [name, t.literals[0]!])) : undefined;
        // A constant request JSON that does not fit is encoded per iteration, each failing as it does.
        const rpcBody = call && step.rpc && isConstant(step.rpc.json) ? call.encode(step.rpc.json.literals[0]!) : undefined;
        this.prepared[step.index] = {
          url,
          headers: headers && call ? call.headers(headers) : headers,
          body: step.body && isConstant(step.body) ? step.body.literals[0]! : undefined,
          call,
          rpcBody: rpcBody instanceof Uint8Array ? rpcBody : undefined,
        };
      }
    this.origins = [...origins.values()];
  }

  /**
   * The URL `text` names, or undefined when it is not an http(s) URL. A path (`/…`) is on the
   * target's origin whatever it holds: `//host/x` rendered from `/{{var}}/x` stays a path there.
   */
  private resolve(text: string): URL | undefined {
    let url = this.resolved.get(text);
    if (url === undefined) {
      url = this.parse(text) ?? null;
      // A rendered URL repeats (the rows' values repeat): parsed once (bounded). The URLs are never modified.
      if (this.resolved.size < 1024) this.resolved.set(text, url);
    }
    return url ?? undefined;
  }

  private parse(text: string): URL | undefined {
    return resolveStepUrl(text, this.base);
  }

  /** The step's RPC call; undefined for an HTTP step. */
  call(step: CompiledStep): RpcCall | undefined {
    return this.prepared[step.index]!.call;
  }

  /**
   * The step's request for this iteration (an RPC step's: an RpcRequest), or a problem with the
   * error kind it is counted as: its rendered URL is not a URL (invalid_url), or its rendered request
   * JSON does not fit the message ({@link INVALID_RPC_REQUEST}).
   */
  build(step: CompiledStep, ctx: RenderContext): ExchangeRequest | { problem: string; kind?: string } {
    const p = this.prepared[step.index]!;
    let url = p.url;
    if (!url) {
      const text = renderTemplate(step.url, ctx);
      url = this.resolve(text);
      if (!url) return { problem: `"${text.slice(0, 200)}" is not an http(s) URL` };
      if (p.call) url = p.call.url(url);
    }
    let headers = p.headers;
    if (!headers) {
      headers = {};
      for (const [name, t] of step.headers) headers[name] = renderTemplate(t, ctx);
      if (p.call) headers = p.call.headers(headers);
    }
    if (p.call) {
      const body = p.rpcBody ?? p.call.encode(renderTemplate(step.rpc!.json, ctx));
      if (!(body instanceof Uint8Array)) return { problem: body.problem, kind: INVALID_RPC_REQUEST };
      return p.call.request(url, headers, body, step.keep.body);
    }
    const body = p.body ?? (step.body ? renderTemplate(step.body, ctx) : undefined);
    return { method: step.method, url, headers, body };
  }
}

/**
 * A step's rendered URL: a path (starting with `/`) is appended to `origin` as text, so that no
 * path (`//host`, `/\host`, a tab) can make the URL parser read a host of its own; an absolute
 * http(s) URL as it is. Undefined for anything else or what does not parse.
 */
export function resolveStepUrl(text: string, origin: string): URL | undefined {
  try {
    const url = text.startsWith("/") ? new URL(origin + text) : new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}
