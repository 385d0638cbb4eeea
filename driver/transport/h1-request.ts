/**
 * The fast path's request as bytes: the transport's is written once and sent as it is by every
 * connection; an exchange's (exchange.ts) is built per call.
 */

/**
 * The request as HTTP/1.1 bytes (a string body as UTF-8); undefined when the fast path cannot
 * build it exactly (then undici sends it).
 */
export function buildRequest(url: URL, method: string, headers: Record<string, string>, body: string | Uint8Array | undefined): Buffer | undefined {
  const target = targetOf(url);
  if (target === undefined || !TOKEN.test(method)) return undefined;
  let head = `${method} ${target.path} HTTP/1.1\r\n`;
  let host = false;
  for (const name in headers) {
    const value = headers[name]!;
    const lower = sendable(name);
    if (lower === "" || BAD_VALUE.test(value)) return undefined;
    if (lower === "host") host = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${target.host}\r\n`;
  const length = body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.length;
  if (length > 0 || method === "POST" || method === "PUT" || method === "PATCH") head += `content-length: ${length}\r\n`;
  head += "\r\n";
  // One allocation for head and body.
  const bytes = Buffer.allocUnsafe(head.length + length);
  const at = bytes.write(head, 0, "latin1");
  if (typeof body === "string") bytes.write(body, at, "utf8");
  else if (body !== undefined) bytes.set(body, at);
  return bytes;
}

/** What the request needs of a URL: its request target (path and query) and its host. */
interface Target {
  path: string;
  host: string;
}

/**
 * URLs seen so far by their href: their {@link Target}, or null when the fast path does not send
 * to them. A scenario's URLs repeat, and the URL getters for the path, the query and the host cost
 * about as much as building the rest of the request (bounded).
 */
const targets = new Map<string, Target | null>();

/** `url`'s request target and host, or undefined when it is not `http:` or `https:` without credentials. */
function targetOf(url: URL): Target | undefined {
  const href = url.href;
  let t = targets.get(href);
  if (t === undefined) {
    t = (url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password ? null : { path: `${url.pathname}${url.search}`, host: url.host };
    if (targets.size < 1024) targets.set(href, t);
  }
  return t ?? undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\0\r\n]/;
/** Framing and connection management belong to the client (the orchestrator refuses them too). */
const CLIENT_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "expect"]);
/** Header names seen so far: their lower-case form, or "" when the fast path does not send them (a scenario's names repeat; bounded). */
const names = new Map<string, string>();

/** `name` lower-cased, or "" when it is not a token or is a header the client owns. */
function sendable(name: string): string {
  let lower = names.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (!TOKEN.test(name) || CLIENT_HEADERS.has(lower)) lower = "";
    if (names.size < 1024) names.set(name, lower);
  }
  return lower;
}
