/**
 * The fast path's request: written once, as bytes, and sent as they are by every connection.
 */

/** The request every connection sends, prebuilt; undefined when the fast path cannot build it exactly (then undici sends it). */
export function buildRequest(url: URL, method: string, headers: Record<string, string>, body: Uint8Array | undefined): Buffer | undefined {
  if (url.protocol !== "http:" || url.username || url.password) return undefined;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) return undefined;
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
  let host = false;
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\0\r\n]/.test(value)) return undefined;
    const lower = name.toLowerCase();
    // Framing and connection management belong to the client (the orchestrator refuses them too).
    if (["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "expect"].includes(lower)) return undefined;
    if (lower === "host") host = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${url.host}\r\n`;
  const length = body?.length ?? 0;
  if (length > 0 || ["POST", "PUT", "PATCH"].includes(method)) head += `content-length: ${length}\r\n`;
  head += "\r\n";
  const headBytes = Buffer.from(head, "latin1");
  return length > 0 ? Buffer.concat([headBytes, body!]) : headBytes;
}
