/**
 * `node --import tsx bench/exchange-bench.ts`: the two exchanges (driver/transport/exchange.ts)
 * side by side on the scenario bench's 3-request flow against nginx (bench/flow.ts's fixed-JSON
 * locations): POST /login (JSON body, body kept, token read), GET /items/42 with the bearer token
 * (body and headers kept), POST /cart (nothing kept). `BENCH_CONNECTIONS` loops (default 32), each
 * running the flow back to back for `BENCH_SECONDS` (default 5) per kind and round
 * (`BENCH_ROUNDS`, default 2, kinds alternating). Prints requests per second and this process's
 * CPU µs per request (`BENCH_KINDS` picks the kinds, default "fast,undici"); nginx is pinned to the last CPU and this process to the others when there
 * are at least 2. Not a test: it only measures.
 *
 * Measured 2026-12-03 on the 2-core dev machine shared with other jobs (load average 5-14, so
 * req/s swung 2-8x between runs of the same kind; CPU per request is the steadier figure), 32
 * loops, 5 s per run: fast 8.1-11.7 user µs/req (14.9-18.9 µs with the kernel's share) against
 * undici 11.7-16.8 (17.1-22.2); best req/s seen 63,700 fast vs 56,800 undici. Per request the
 * kernel's socket write (~7 µs, the same for both) and this script's own work (JSON.parse of the
 * login answer, a URL per item) are most of what remains.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { createExchange, type Exchange, type ExchangeResult } from "../driver/transport/exchange.js";
import type { TransportKind } from "../driver/transport/transport.js";
import { FLOW_NGINX_LOCATIONS } from "./flow.js";
import { envNumber, table } from "./lib.js";
import { startNginx } from "./nginx.js";

const seconds = envNumber("BENCH_SECONDS", 5);
const loops = envNumber("BENCH_CONNECTIONS", 32);
const rounds = envNumber("BENCH_ROUNDS", 2);
/** `BENCH_KINDS`: which exchanges, in order (default "fast,undici"). */
const kinds = (process.env.BENCH_KINDS ?? "fast,undici").split(",").map((k) => k.trim()) as TransportKind[];

/** One kind's run: requests answered 200, failures, and this process's CPU. */
interface Run {
  kind: TransportKind;
  requests: number;
  failures: number;
  wallS: number;
  cpuS: number;
  userS: number;
}

function okBody(r: ExchangeResult): Uint8Array | undefined {
  return r.ok && r.status === 200 ? r.body : undefined;
}

async function runKind(kind: TransportKind, base: URL): Promise<Run> {
  const exchange: Exchange = createExchange({ kind, timeoutMs: 10_000, connections: loops });
  const login = new URL("/login", base);
  const cart = new URL("/cart", base);
  await exchange.prepare([base], loops);
  let requests = 0;
  let failures = 0;
  const count = (r: ExchangeResult) => (r.ok && r.status === 200 ? requests++ : failures++);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const endAt = t0 + seconds * 1000;
  const loop = async (n: number) => {
    // Bounded by time and by count.
    for (let i = 0; i < 10_000_000 && performance.now() < endAt; i++) {
      const a = await exchange.send(
        { method: "POST", url: login, headers: { "content-type": "application/json" }, body: `{"user":"u${n}-${i}","password":"p"}` },
        { body: true, headers: false },
      );
      count(a);
      const body = okBody(a);
      if (body === undefined) continue;
      const token = (JSON.parse(Buffer.from(body).toString("utf8")) as { token: string }).token;
      const item = await exchange.send(
        { method: "GET", url: new URL(`/items/${i % 1000}`, base), headers: { authorization: `Bearer ${token}` }, body: undefined },
        { body: true, headers: true },
      );
      count(item);
      const c = await exchange.send(
        { method: "POST", url: cart, headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: `{"item":${i % 1000},"qty":1}` },
        { body: false, headers: false },
      );
      count(c);
    }
  };
  await Promise.all(Array.from({ length: loops }, (_, n) => loop(n)));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await exchange.close(false);
  return { kind, requests, failures, wallS, cpuS: (cpu.user + cpu.system) / 1e6, userS: cpu.user / 1e6 };
}

const nginx = await startNginx(FLOW_NGINX_LOCATIONS);
try {
  const cpus = availableParallelism();
  if (cpus >= 2) {
    nginx.pin(String(cpus - 1));
    spawnSync("taskset", ["-pc", `0-${cpus - 2}`, String(process.pid)], { stdio: "ignore" });
  }
  const base = new URL(nginx.url);
  const runs: Run[] = [];
  for (let round = 0; round < rounds; round++) for (const kind of kinds) runs.push(await runKind(kind, base));
  console.log(
    table(
      ["kind", "requests", "failures", "req/s", "CPU µs/req", "user µs/req"],
      runs.map((r) => [r.kind, String(r.requests), String(r.failures), (r.requests / r.wallS).toFixed(0), ((r.cpuS * 1e6) / Math.max(1, r.requests)).toFixed(1), ((r.userS * 1e6) / Math.max(1, r.requests)).toFixed(1)]),
    ),
  );
} finally {
  await nginx.stop();
}
