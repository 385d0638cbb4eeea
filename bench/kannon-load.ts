/**
 * Throughput child: one Kannon driver runs an avalanche against a URL and prints a {@link LoadResult}.
 * The driver is the load generator, alone in this process with only a stand-in orchestrator that
 * merges its interval metrics exactly (MetricsAccumulator, as the real orchestrator does).
 * Usage: node --import tsx bench/kannon-load.ts URL CONNECTIONS DURATION_MS [THREADS] [PIPELINING] [fast|undici]
 * (requests in flight: CONNECTIONS × PIPELINING, as autocannon counts them).
 */
import { MetricsAccumulator, msOf } from "../metrics/stats.js";
import { cpuSince, printResult } from "./load-result.js";
import { runSoloAvalanche } from "./solo-driver.js";
import { TRANSPORT_KINDS, type TransportKind } from "../driver/transport/transport.js";

const [url, connectionsArg, durationArg, threadsArg, pipeliningArg, transportArg = "fast"] = process.argv.slice(2);
if (!url || !connectionsArg || !durationArg || !TRANSPORT_KINDS.includes(transportArg as TransportKind)) {
  console.error("usage: kannon-load.ts URL CONNECTIONS DURATION_MS [THREADS] [PIPELINING] [fast|undici]");
  process.exit(2);
}
const threads = Number(threadsArg ?? 1);
const pipelining = Number(pipeliningArg ?? 1);
const concurrency = Number(connectionsArg) * pipelining;
const durationMs = Number(durationArg);

const total = new MetricsAccumulator();
let lastEndMs = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
const result = await runSoloAvalanche({
  url,
  concurrency,
  durationMs,
  reportIntervalMs: 1000,
  threads,
  pipelining,
  transport: transportArg as TransportKind,
  onStartAt: (startAtMs) => {
    // CPU from the start instant on, as for the other generators (the spin before it is tiny).
    setTimeout(() => (cpuStart = process.cpuUsage()), Math.max(0, startAtMs - Date.now()));
  },
  onMetrics: (m) => {
    if (process.env.BENCH_VERBOSE) console.error(`interval ${m.seq}${m.final ? " (final)" : ""}: ${m.requests} requests`);
    total.add(m);
    if (m.intervalEnd) lastEndMs = Math.max(lastEndMs, msOf(m.intervalEnd));
  },
});
const cpuS = cpuStart ? cpuSince(cpuStart) : 0;
if (result.error) console.error(`kannon-load: the driver reported: ${result.error}`);
const stats = total.toStats({ startMs: result.startAtMs, endMs: lastEndMs });
printResult({
  requests: total.requests,
  errors: total.errors,
  durationS: (lastEndMs - result.startAtMs) / 1000,
  reqPerS: stats.requestsPerS,
  p50Ms: Number(stats.latency?.p50Us ?? 0n) / 1000,
  p99Ms: Number(stats.latency?.p99Us ?? 0n) / 1000,
  cpuS,
  note: `${result.metricsMessages} metrics messages${threads > 1 ? `, ${threads} load threads` : ""}${pipelining > 1 ? `, pipelining ${pipelining}` : ""}${transportArg === "fast" ? "" : `, ${transportArg}`}`,
});
