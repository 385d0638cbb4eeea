import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { createTarget, MAX_FLOW_KEYS } from "./target.js";
import type { Target, TargetCounts } from "./target.js";
import { bump, OTHER_KEY } from "./bounded-count.js";
import { startTargetThread } from "./target-thread.js";

let target: Target;

// One target for the file, its counters zeroed before each test.
beforeAll(async () => {
  target = await createTarget({ port: 0 });
});
beforeEach(() => target.reset());
afterAll(() => target.close());

async function metrics(): Promise<TargetCounts> {
  const res = await fetch(`${target.url}/metrics`);
  expect(res.status).toBe(200);
  return (await res.json()) as TargetCounts;
}

async function login(user: string, password: string): Promise<Response> {
  return fetch(`${target.url}/login`, { method: "POST", body: JSON.stringify({ user, password }) });
}

async function tokenOf(user: string): Promise<string> {
  const res = await login(user, `pw-${user}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { token: string; user: string };
  expect(body.user).toBe(user);
  expect(body.token).toMatch(/^\S{10,}$/);
  return body.token;
}

const bearer = (token: string, extra: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${token}`, ...extra });

describe("the flow API", () => {
  it("login → items → cart with the token: JSON answers, counted per path, user, token, item and row", async () => {
    const alice = await tokenOf("alice");
    const bob = await tokenOf("bob");
    expect(alice).not.toBe(bob);

    const item = await fetch(`${target.url}/items/42`, { headers: bearer(alice, { "x-row-id": "r1" }) });
    expect(item.status).toBe(200);
    expect(item.headers.get("content-type")).toBe("application/json");
    const body = (await item.json()) as { id: string; name: string; price: number };
    expect(body.id).toBe("42");
    expect(body.name).toContain("42");
    expect(body.price).toBeGreaterThan(0);

    const cart = await fetch(`${target.url}/cart`, {
      method: "POST",
      headers: bearer(alice, { "x-row-id": "r1", "content-type": "application/json" }),
      body: JSON.stringify({ itemId: 42, qty: 3 }),
    });
    expect(cart.status).toBe(200);
    expect(await cart.json()).toEqual({ user: "alice", itemId: "42", qty: 3, total: Math.round(body.price * 300) / 100 });

    expect((await fetch(`${target.url}/items/sku-7`, { headers: bearer(bob, { "x-row-id": "r2" }) })).status).toBe(200);
    expect((await fetch(`${target.url}/items/42`, { headers: bearer(bob) })).status).toBe(200);

    const m = await metrics();
    expect(m.requests).toBe(6);
    expect(m.byPath).toEqual({ "/login": 2, "/items/{id}": 3, "/cart": 1 });
    expect(m.byStatus).toEqual({ "200": 6 });
    // A login counts its user; every request bearing a token counts its token and its user.
    expect(m.byUser).toEqual({ alice: 3, bob: 3 });
    expect(m.byToken).toEqual({ [alice]: 2, [bob]: 2 });
    expect(m.byItem).toEqual({ "42": 2, "sku-7": 1 });
    expect(m.byRow).toEqual({ r1: 2, r2: 1 });
    expect(target.counts()).toEqual(m);
  });

  it("a wrong password answers 401, bad JSON or fields 400, another method 405, a huge body 413; none counts a user", async () => {
    expect((await login("alice", "nope")).status).toBe(401);
    for (const body of ["{", "[1]", "null", '"x"', '{"user": 1, "password": "pw-1"}', '{"user": "a"}', `{"user": "${"u".repeat(129)}", "password": "x"}`]) {
      const res = await fetch(`${target.url}/login`, { method: "POST", body });
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/bad request: .*(JSON|user|password)/);
    }
    const get = await fetch(`${target.url}/login`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    await get.text();
    const huge = await fetch(`${target.url}/login`, { method: "POST", body: "x".repeat(70_000) });
    expect(huge.status).toBe(413);
    await huge.text();

    const m = await metrics();
    expect(m.byPath).toEqual({ "/login": 10 });
    expect(m.byStatus).toEqual({ "400": 7, "401": 1, "405": 1, "413": 1 });
    expect(m.byUser).toEqual({});
  });

  it("/items/{id} and /cart answer 401 without a token or with one this target did not issue", async () => {
    const other = await createTarget({ port: 0 });
    let foreign: string;
    try {
      const res = await fetch(`${other.url}/login`, { method: "POST", body: JSON.stringify({ user: "eve", password: "pw-eve" }) });
      foreign = ((await res.json()) as { token: string }).token;
    } finally {
      await other.close();
    }
    const mine = await tokenOf("eve");
    const tampered = `${mine.slice(0, -1)}${mine.endsWith("A") ? "B" : "A"}`;

    for (const headers of [{}, bearer(foreign), bearer(tampered), { authorization: mine }, { authorization: "Basic ZXZlOnB3" }]) {
      const items = await fetch(`${target.url}/items/1`, { headers: { ...headers, "x-row-id": "r9" } });
      expect(items.status).toBe(401);
      expect(items.headers.get("www-authenticate")).toBe("Bearer");
      expect(((await items.json()) as { error: string }).error).toMatch(/unauthorized/);
      const cart = await fetch(`${target.url}/cart`, { method: "POST", headers, body: '{"itemId": 1, "qty": 1}' });
      expect(cart.status).toBe(401);
      await cart.text();
    }
    const m = await metrics();
    expect(m.byStatus).toEqual({ "200": 1, "401": 10 });
    expect(m.byUser).toEqual({ eve: 1 });
    expect(m.byToken).toEqual({});
    expect(m.byItem).toEqual({});
    expect(m.byRow).toEqual({ r9: 5 });
  });

  it("bad item ids answer 404, bad cart bodies 400 naming the field, wrong methods 405", async () => {
    const token = await tokenOf("carol");
    for (const id of ["a.b", "x".repeat(65), "%20"]) {
      const res = await fetch(`${target.url}/items/${id}`, { headers: bearer(token) });
      expect(res.status, id).toBe(404);
      await res.text();
    }
    for (const [body, field] of [
      ['{"itemId": 1}', "qty"],
      ['{"itemId": 1, "qty": 0}', "qty"],
      [`{"itemId": 1, "qty": 1001}`, "qty"],
      ['{"itemId": -1, "qty": 1}', "itemId"],
      ['{"itemId": "a b", "qty": 1}', "itemId"],
      ["not json", "JSON"],
    ] as const) {
      const res = await fetch(`${target.url}/cart`, { method: "POST", headers: bearer(token), body });
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: string }).error).toContain(field);
    }
    const put = await fetch(`${target.url}/items/1`, { method: "PUT", headers: bearer(token) });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, HEAD");
    await put.text();
    expect((await fetch(`${target.url}/cart`, { headers: bearer(token) })).status).toBe(405);
    // A path below an item is not an item: a plain 404, counted under its own path.
    expect((await fetch(`${target.url}/items/1/x`, { headers: bearer(token) })).status).toBe(404);
    expect((await metrics()).byPath).toMatchObject({ "/items/{id}": 4, "/cart": 7, "/items/1/x": 1 });
  });

  it("GET /search?q= answers a JSON list of items that /items/{id} serves; q is required", async () => {
    const res = await fetch(`${target.url}/search?q=lamp`);
    expect(res.status).toBe(200);
    const found = (await res.json()) as { id: string; name: string; price: number }[];
    expect(found.length).toBe(5);
    const again = (await (await fetch(`${target.url}/search?q=lamp`)).json()) as unknown;
    expect(again).toEqual(found);
    const token = await tokenOf("dan");
    const first = found[0] as { id: string };
    expect(await (await fetch(`${target.url}/items/${first.id}`, { headers: bearer(token) })).json()).toEqual(first);

    expect(await (await fetch(`${target.url}/search?q=`)).json()).toEqual([]);
    const missing = await fetch(`${target.url}/search`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/q/);
    // A token is optional on /search, but one that is sent must be valid.
    expect((await fetch(`${target.url}/search?q=a`, { headers: bearer(token) })).status).toBe(200);
    expect((await fetch(`${target.url}/search?q=a`, { headers: bearer("forged.1.x") })).status).toBe(401);
    expect((await metrics()).byToken).toEqual({ [token]: 2 });
  });

  it("?fail=N makes /items/{id} answer 500 for ids divisible by N, a predictable share", async () => {
    const token = await tokenOf("frank");
    const statuses: number[] = [];
    for (let id = 1; id <= 12; id++) {
      const res = await fetch(`${target.url}/items/${id}?fail=3`, { headers: bearer(token) });
      statuses.push(res.status);
      await res.text();
    }
    expect(statuses).toEqual([200, 200, 500, 200, 200, 500, 200, 200, 500, 200, 200, 500]);
    expect((await fetch(`${target.url}/items/abc?fail=3`, { headers: bearer(token) })).status).toBe(200);
    for (const bad of ["0", "-1", "x", "1.5"]) {
      const res = await fetch(`${target.url}/items/3?fail=${bad}`, { headers: bearer(token) });
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/fail/);
    }
    const m = await metrics();
    expect(m.byStatus).toEqual({ "200": 10, "500": 4, "400": 4 });
    expect(m.byItem).toMatchObject({ "3": 1, "12": 1, abc: 1 });
  });

  it("?delay=ms delays any flow answer; a bad delay answers 400", async () => {
    const token = await tokenOf("gina");
    const t0 = performance.now();
    const res = await fetch(`${target.url}/items/5?delay=200`, { headers: bearer(token) });
    expect(res.status).toBe(200);
    await res.json();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(199);
    const t1 = performance.now();
    const slowLogin = await fetch(`${target.url}/login?delay=150`, { method: "POST", body: '{"user": "gina", "password": "pw-gina"}' });
    expect(slowLogin.status).toBe(200);
    await slowLogin.json();
    expect(performance.now() - t1).toBeGreaterThanOrEqual(149);
    for (const bad of ["-1", "60001", "x"]) {
      const r = await fetch(`${target.url}/search?q=a&delay=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/delay.*60000/);
    }
  });

  it("reset() zeroes the flow counters and the statuses; tokens issued before stay valid", async () => {
    const token = await tokenOf("hal");
    await (await fetch(`${target.url}/items/1`, { headers: bearer(token, { "x-row-id": "r" }) })).text();
    target.reset();
    expect(target.counts()).toMatchObject({ byStatus: {}, byUser: {}, byToken: {}, byItem: {}, byRow: {} });
    expect((await fetch(`${target.url}/items/1`, { headers: bearer(token) })).status).toBe(200);
    expect(target.counts()).toMatchObject({ byStatus: { "200": 1 }, byUser: { hal: 1 }, byToken: { [token]: 1 }, byItem: { "1": 1 } });
  });

  it("keeps at most MAX_FLOW_KEYS row ids, then counts the rest under (other)", async () => {
    const extra = 5;
    const total = MAX_FLOW_KEYS + extra;
    // Pipelined on one keep-alive socket: ten thousand requests in well under a second.
    const socket = connect(target.port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.on("data", () => undefined);
    const requests: string[] = [];
    for (let i = 0; i < total; i++) requests.push(`GET /search?q= HTTP/1.1\r\nHost: t\r\nx-row-id: row-${i}\r\n\r\n`);
    socket.write(requests.join(""));
    const deadline = Date.now() + 20_000;
    while (target.counts().responses < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    const m = target.counts();
    expect(m.responses).toBe(total);
    expect(Object.keys(m.byRow).length).toBe(MAX_FLOW_KEYS + 1);
    expect(m.byRow["row-0"]).toBe(1);
    expect(m.byRow[`row-${MAX_FLOW_KEYS - 1}`]).toBe(1);
    expect(m.byRow[`row-${MAX_FLOW_KEYS}`]).toBeUndefined();
    expect(m.byRow[OTHER_KEY]).toBe(extra);
  }, 30_000);
});

describe("the flow API on the target's own thread", () => {
  it("serves the flow, and counts() brings the per-user and per-token maps across", async () => {
    const threaded = await startTargetThread();
    try {
      const res = await fetch(`${threaded.url}/login`, { method: "POST", body: '{"user": "ida", "password": "pw-ida"}' });
      const { token } = (await res.json()) as { token: string };
      const head = await fetch(`${threaded.url}/items/9`, { method: "HEAD", headers: bearer(token, { "x-row-id": "7" }) });
      expect(head.status).toBe(200);
      expect(Number(head.headers.get("content-length"))).toBeGreaterThan(10);
      expect(await head.text()).toBe("");
      expect(await threaded.counts()).toMatchObject({
        byPath: { "/login": 1, "/items/{id}": 1 },
        byStatus: { "200": 2 },
        byUser: { ida: 2 },
        byToken: { [token]: 1 },
        byItem: { "9": 1 },
        byRow: { "7": 1 },
      });
    } finally {
      await threaded.close();
    }
  });
});

describe("bump", () => {
  it("counts up to maxKeys distinct keys, then new keys under (other)", () => {
    const map = new Map<string, number>();
    for (const key of ["a", "b", "a", "c", "d", "b", "c"]) bump(map, key, 2);
    expect(Object.fromEntries(map)).toEqual({ a: 2, b: 2, [OTHER_KEY]: 3 });
  });
});
