/**
 * The target's flow API: a small shop that needs a multi-step flow (log in, take the token, use it),
 * so scenario tests can compare what Kannon reports with what the target received, per user, per
 * token, per item and per data row. Every answer is JSON; errors are `{"error": "..."}`.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { bump } from "./bounded-count.js";
import { MAX_DELAY_MS, parseDelayMs } from "./delay.js";

/** The most distinct keys each of `byUser`, `byToken`, `byItem` and `byRow` keeps (then `"(other)"`). */
export const MAX_FLOW_KEYS = 10_000;

/** The largest request body `POST /login` and `POST /cart` read; a larger one answers 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The request header that names the data row a request came from; counted in `byRow`. */
export const ROW_ID_HEADER = "x-row-id";

/** The longest user name and row id that are counted; longer row ids are ignored, longer users refused. */
export const MAX_NAME_LENGTH = 128;

/** The largest `qty` `POST /cart` accepts. */
export const MAX_QTY = 1000;

/** The flow API's routes, as they are counted in the target's `byPath`. */
export type FlowRoute = "/login" | "/items/{id}" | "/cart" | "/search";

/** What the flow API counted since start (or the last reset); each map holds at most {@link MAX_FLOW_KEYS} keys. */
export interface FlowCounts {
  /** Successful logins plus requests bearing a valid token, per user. */
  byUser: Record<string, number>;
  /** Requests bearing a valid token, per token (a login's own request does not bear its token). */
  byToken: Record<string, number>;
  /** Authenticated `GET /items/{id}` requests, per item id (those answered 500 on purpose too). */
  byItem: Record<string, number>;
  /** Flow API requests carrying an `x-row-id` header, per row id (any answer, 401s included). */
  byRow: Record<string, number>;
}

/** The flow API, as the target's request handler uses it. */
export interface FlowApi {
  /** The route `path` belongs to, or undefined when it is not a flow API path. */
  route(path: string): FlowRoute | undefined;
  /** Answers a request to `route`; `query` is the URL's query without its `?` ("" when none). */
  handle(route: FlowRoute, path: string, query: string, req: IncomingMessage, res: ServerResponse): void;
  /** A snapshot of the counters. */
  counts(): FlowCounts;
  /** Zeroes the counters (tokens issued before stay valid). */
  reset(): void;
}

/** The one password `POST /login` accepts for `user`: `pw-` followed by the user name. */
export function passwordFor(user: string): string {
  return `pw-${user}`;
}

const ITEMS_PREFIX = "/items/";
const ITEM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SEARCH_RESULTS = 5;

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const error = (status: number, message: string, headers?: Record<string, string>): Reply =>
  headers === undefined ? { status, body: { error: message } } : { status, body: { error: message }, headers };
const notAllowed = (method: string, route: FlowRoute): Reply =>
  error(405, `method not allowed: use ${method} ${route}`, { allow: method === "GET" ? "GET, HEAD" : method });
const UNAUTHORIZED = error(401, "unauthorized: send the token of POST /login as authorization: Bearer <token>", {
  "www-authenticate": "Bearer",
});
const BAD_TOKEN = error(401, "unauthorized: the bearer token is not one this target issued", { "www-authenticate": "Bearer" });

/** FNV-1a, 32 bits: a stable number for a string (prices, search results). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** An item's price in cents, derived from its id: 1.00 to 99.99. */
const priceCents = (id: string): number => 100 + (hash(id) % 9900);
const item = (id: string): { id: string; name: string; price: number } => ({ id, name: `item ${id}`, price: priceCents(id) / 100 });

/** Reads a request body of at most MAX_BODY_BYTES; undefined when larger (the rest is drained). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8");
}

/** Parses a JSON object body, or says what is wrong with it. */
function jsonObject(body: string | undefined, shape: string): Record<string, unknown> | Reply {
  if (body === undefined) return error(413, `request body over ${MAX_BODY_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return error(400, `bad request: the body must be JSON ${shape}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return error(400, `bad request: the body must be a JSON object ${shape}`);
  return value as Record<string, unknown>;
}

const isReply = (value: Record<string, unknown> | Reply): value is Reply => "status" in value && "body" in value;

/** Creates the flow API with its own token secret and counters. */
export function createFlowApi(): FlowApi {
  const secret = randomBytes(32);
  let issued = 0;
  let byUser = new Map<string, number>();
  let byToken = new Map<string, number>();
  let byItem = new Map<string, number>();
  let byRow = new Map<string, number>();

  const sign = (payload: string): string => createHmac("sha256", secret).update(payload).digest("base64url").slice(0, 22);

  /** A token names its user and is signed, so checking it needs no session table. */
  function issue(user: string): string {
    const payload = `${Buffer.from(user, "utf8").toString("base64url")}.${(++issued).toString(36)}`;
    return `${payload}.${sign(payload)}`;
  }

  /** The token's user and the token, null for a token this target did not issue, undefined without one. */
  function authenticate(header: string | undefined): { user: string; token: string } | null | undefined {
    if (header === undefined) return undefined;
    const match = /^Bearer +(\S{1,256})$/i.exec(header.trim());
    if (match === null) return null;
    const token = match[1] as string;
    const dot = token.lastIndexOf(".");
    const payload = token.slice(0, dot);
    const parts = payload.split(".");
    if (dot === -1 || parts.length !== 2 || sign(payload) !== token.slice(dot + 1)) return null;
    return { user: Buffer.from(parts[0] as string, "base64url").toString("utf8"), token };
  }

  async function login(req: IncomingMessage): Promise<Reply> {
    const body = jsonObject(await readBody(req), "{user, password}");
    if (isReply(body)) return body;
    const { user, password } = body;
    if (typeof user !== "string" || user === "" || user.length > MAX_NAME_LENGTH) {
      return error(400, `bad request: user must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
    }
    if (typeof password !== "string") return error(400, "bad request: password must be a string");
    if (password !== passwordFor(user)) return error(401, "unauthorized: wrong user or password");
    bump(byUser, user, MAX_FLOW_KEYS);
    return { status: 200, body: { token: issue(user), user } };
  }

  function items(path: string, params: URLSearchParams | undefined): Reply {
    const id = path.slice(ITEMS_PREFIX.length);
    if (!ITEM_ID.test(id)) return error(404, "not found: an item id is 1 to 64 letters, digits, _ or -");
    const rawFail = params?.get("fail") ?? null;
    if (rawFail !== null && !/^[1-9]\d{0,8}$/.test(rawFail)) return error(400, "bad request: fail must be an integer from 1 to 999999999");
    bump(byItem, id, MAX_FLOW_KEYS);
    if (rawFail !== null && /^\d{1,15}$/.test(id) && Number(id) % Number(rawFail) === 0) {
      return error(500, `failing on purpose: item ${id} is a multiple of fail=${rawFail}`);
    }
    return { status: 200, body: item(id) };
  }

  async function cart(req: IncomingMessage, user: string): Promise<Reply> {
    const body = jsonObject(await readBody(req), "{itemId, qty}");
    if (isReply(body)) return body;
    const { itemId, qty } = body;
    const id = typeof itemId === "number" && Number.isSafeInteger(itemId) && itemId >= 0 ? String(itemId) : itemId;
    if (typeof id !== "string" || !ITEM_ID.test(id)) {
      return error(400, "bad request: itemId must be a non-negative integer or 1 to 64 letters, digits, _ or -");
    }
    if (typeof qty !== "number" || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) {
      return error(400, `bad request: qty must be an integer from 1 to ${MAX_QTY}`);
    }
    return { status: 200, body: { user, itemId: id, qty, total: (priceCents(id) * qty) / 100 } };
  }

  function search(params: URLSearchParams | undefined): Reply {
    const q = params?.get("q") ?? null;
    if (q === null) return error(400, "bad request: /search needs q, e.g. /search?q=lamp");
    if (q === "") return { status: 200, body: [] };
    const h = hash(q);
    return { status: 200, body: Array.from({ length: SEARCH_RESULTS }, (_, i) => item(String(1 + ((h + i) % 1000)))) };
  }

  async function answer(route: FlowRoute, path: string, params: URLSearchParams | undefined, req: IncomingMessage): Promise<Reply> {
    const method = req.method ?? "GET";
    const read = method === "GET" || method === "HEAD";
    if (route === "/login") return method === "POST" ? login(req) : notAllowed("POST", route);
    const auth = authenticate(req.headers.authorization);
    if (auth === null) return BAD_TOKEN;
    if (auth !== undefined) {
      bump(byToken, auth.token, MAX_FLOW_KEYS);
      bump(byUser, auth.user, MAX_FLOW_KEYS);
    }
    if (route === "/search") return read ? search(params) : notAllowed("GET", route);
    if (route === "/items/{id}") {
      if (!read) return notAllowed("GET", route);
      return auth === undefined ? UNAUTHORIZED : items(path, params);
    }
    if (method !== "POST") return notAllowed("POST", route);
    return auth === undefined ? UNAUTHORIZED : cart(req, auth.user);
  }

  function send(res: ServerResponse, reply: Reply): void {
    const body = Buffer.from(JSON.stringify(reply.body), "utf8");
    res
      .writeHead(reply.status, { "content-type": "application/json", "content-length": String(body.length), ...reply.headers })
      .end(body);
  }

  function handle(route: FlowRoute, path: string, query: string, req: IncomingMessage, res: ServerResponse): void {
    const rowId = req.headers[ROW_ID_HEADER];
    if (typeof rowId === "string" && rowId !== "" && rowId.length <= MAX_NAME_LENGTH) bump(byRow, rowId, MAX_FLOW_KEYS);
    const params = query === "" ? undefined : new URLSearchParams(query);
    const rawDelay = params?.get("delay") ?? null;
    const delayMs = rawDelay === null ? 0 : parseDelayMs(rawDelay);
    if (delayMs === undefined) return send(res, error(400, `bad request: delay must be an integer from 0 to ${MAX_DELAY_MS} (milliseconds)`));
    answer(route, path, params, req).then(
      (reply) => {
        if (delayMs === 0) return send(res, reply);
        // Drain an unread body now: the reply waits, and an unread body would hold the socket back.
        req.resume();
        const timer = setTimeout(() => send(res, reply), delayMs);
        res.on("close", () => clearTimeout(timer));
      },
      // The client went away mid-body (or close() destroyed the socket): nothing to answer.
      () => res.destroy(),
    );
  }

  return {
    route(path) {
      if (path === "/login" || path === "/cart" || path === "/search") return path;
      if (path.startsWith(ITEMS_PREFIX) && path.length > ITEMS_PREFIX.length && path.indexOf("/", ITEMS_PREFIX.length) === -1) return "/items/{id}";
      return undefined;
    },
    handle,
    counts: () => ({
      byUser: Object.fromEntries(byUser),
      byToken: Object.fromEntries(byToken),
      byItem: Object.fromEntries(byItem),
      byRow: Object.fromEntries(byRow),
    }),
    reset() {
      byUser = new Map();
      byToken = new Map();
      byItem = new Map();
      byRow = new Map();
    },
  };
}
