/**
 * A minimal h2c sender for the RPC wire tests (node:http2, one session): an ExchangeRequest in, the
 * response as the Exchange gives it (status, headers, trailers, body, onBody per chunk). Stand-in
 * until the h2 Exchange (helper "h2") is on main; then the tests use createExchange with HTTP/2.
 */
import { connect, type ClientHttp2Session } from "node:http2";
import type { ExchangeRequest, ExchangeResult } from "../driver/transport/exchange.js";

/** Sends requests over one h2c session to `origin`. */
export class H2Sender {
  private readonly session: ClientHttp2Session;

  constructor(origin: string) {
    this.session = connect(origin);
    this.session.on("error", () => undefined);
  }

  /** The request's response, or {ok:false} (`timeout` after `timeoutMs`, `reset` on a stream error). */
  send(req: ExchangeRequest, timeoutMs = 10_000): Promise<ExchangeResult> {
    const sentMs = Date.now();
    return new Promise((resolve) => {
      const stream = this.session.request({ ":method": req.method, ":path": req.url.pathname, ...req.headers });
      let status = 0;
      let headers: Record<string, string | string[]> = {};
      let trailers: Record<string, string | string[]> = {};
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        stream.close();
        resolve({ ok: false, kind: "timeout", sentMs, endMs: Date.now() });
      }, timeoutMs);
      const plain = (h: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(":")).map(([k, v]) => [k, v as string | string[]]));
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        headers = plain(h);
      });
      stream.on("trailers", (h) => (trailers = plain(h)));
      stream.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        req.onBody?.(chunk, Date.now());
      });
      stream.on("end", () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({ ok: true, status, headers, trailers, protocol: "h2", body, bytes: body.length, sentMs, endMs: Date.now() });
      });
      stream.on("error", () => {
        clearTimeout(timer);
        resolve({ ok: false, kind: "reset", sentMs, endMs: Date.now() });
      });
      stream.end(req.body);
    });
  }

  close(): void {
    this.session.close();
  }
}
