import type { CompiledScenario, CompiledStep } from "../../scenario/compile.js";
import { isConstant, renderTemplate, type RenderContext } from "../../scenario/template.js";
import type { ExchangeRequest } from "../transport/exchange.js";

/** What of a step's request is the same for every iteration, built once. */
interface Prepared {
  /** The URL when its template is constant. */
  url: URL | undefined;
  /** The headers when every value is constant. */
  headers: Record<string, string> | undefined;
  /** The body when it is constant (undefined: no body, or a template). */
  body: string | undefined;
}

/**
 * Builds steps' requests: the constant parts once, the templates rendered per iteration. A relative
 * URL (a path starting with `/`) is resolved against the test's target_url origin.
 */
export class StepRequests {
  /** The origins of the steps whose URL is constant: connections to them can be opened ahead. */
  readonly origins: URL[];
  private readonly prepared: Prepared[] = [];
  private readonly base: string;
  /** Rendered URL texts seen so far: their URL, or null when not an http(s) URL. */
  private readonly resolved = new Map<string, URL | null>();

  constructor(scenarios: readonly CompiledScenario[], targetUrl: URL) {
    this.base = targetUrl.origin;
    const origins = new Map<string, URL>();
    for (const s of scenarios)
      for (const step of s.steps) {
        const url = isConstant(step.url) ? this.resolve(step.url.literals[0]!) : undefined;
        if (url) origins.set(url.origin, new URL(url.origin));
        const constantHeaders = step.headers.every(([, t]) => isConstant(t));
        this.prepared[step.index] = {
          url,
          headers: constantHeaders ? Object.fromEntries(step.headers.map(([name, t]) => [name, t.literals[0]!])) : undefined,
          body: step.body && isConstant(step.body) ? step.body.literals[0]! : undefined,
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

  /** The step's request for this iteration, or a problem when its rendered URL is not a URL. */
  build(step: CompiledStep, ctx: RenderContext): ExchangeRequest | { problem: string } {
    const p = this.prepared[step.index]!;
    let url = p.url;
    if (!url) {
      const text = renderTemplate(step.url, ctx);
      url = this.resolve(text);
      if (!url) return { problem: `"${text.slice(0, 200)}" is not an http(s) URL` };
    }
    let headers = p.headers;
    if (!headers) {
      headers = {};
      for (const [name, t] of step.headers) headers[name] = renderTemplate(t, ctx);
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
