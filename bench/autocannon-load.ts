/**
 * Throughput child: autocannon (its programmatic API, one thread) against a URL; prints a {@link LoadResult}.
 * Usage: node --import tsx bench/autocannon-load.ts URL CONNECTIONS SECONDS [WORKERS] [PIPELINING]
 */
import { createRequire } from "node:module";
import { cpuSince, printResult } from "./load-result.js";

/** The part of autocannon's result this bench reads (autocannon ships no types). */
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
}
type Autocannon = (opts: { url: string; connections: number; duration: number; pipelining: number; workers?: number }) => Promise<AutocannonResult>;

const [url, connectionsArg, secondsArg, workersArg, pipeliningArg] = process.argv.slice(2);
if (!url || !connectionsArg || !secondsArg) {
  console.error("usage: autocannon-load.ts URL CONNECTIONS SECONDS [WORKERS] [PIPELINING]");
  process.exit(2);
}
const workers = Number(workersArg ?? 1);
const pipelining = Number(pipeliningArg ?? 1);
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
const cpuStart = process.cpuUsage();
const r = await autocannon({ url, connections: Number(connectionsArg), duration: Number(secondsArg), pipelining, ...(workers > 1 ? { workers } : {}) });
const cpuS = cpuSince(cpuStart);
printResult({
  requests: r.requests.total,
  errors: r.errors + r.non2xx,
  durationS: r.duration,
  reqPerS: r.requests.total / r.duration,
  p50Ms: r.latency.p50,
  p99Ms: r.latency.p99,
  cpuS,
  note: `latency in whole ms (0 means under 1 ms)${workers > 1 ? `, ${workers} workers` : ""}${pipelining > 1 ? `, pipelining ${pipelining}` : ""}`,
});
