/**
 * Throughput child: one Kannon driver runs an avalanche against a URL and prints a {@link LoadResult}.
 * The driver is the load generator, alone in this process with only a stand-in orchestrator that
 * merges its interval metrics exactly (MetricsAccumulator, as the real orchestrator does).
 * Usage: node --import tsx bench/kannon-load.ts URL CONNECTIONS DURATION_MS [THREADS] [PIPELINING] [fast|undici] [SHAPE] [TLS] [H2]
 * (requests in flight: CONNECTIONS × PIPELINING, as autocannon counts them). SHAPE is what each
 * connection runs: `plain` (the single request GET URL, the default), `one-step` (a scenario of one
 * step GET URL's path, no template) or `flow=CSV_PATH` (the 3-step flow of flow.ts against URL's
 * origin, its rows from the CSV file). TLS, for an https URL: `tls=CA_FILE` (the CA that verifies the
 * target) or `tls=CA_FILE,per-request` (a new TLS connection per request). H2: `h2=STREAMS`, HTTP/2
 * with CONNECTIONS connections of STREAMS streams (h2load's -c and -m; requests in flight:
 * CONNECTIONS × STREAMS).
 */
import { create } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { HttpOptionsSchema, HttpVersion, TlsOptionsSchema } from "../gen/kannon/v1/protocol_pb.js";
import { MetricsAccumulator, msOf } from "../metrics/stats.js";
import { accumulatedResult, cpuSince, printResult } from "./load-result.js";
import { runSoloAvalanche, type SoloAvalancheOptions } from "./solo-driver.js";
import { TRANSPORT_KINDS, type TransportKind } from "../driver/transport/transport.js";
import { flowDataFile, flowScenarios, oneStepScenarios } from "./flow.js";

const [url, connectionsArg, durationArg, threadsArg, pipeliningArg, transportArg = "fast", shape = "plain", ...extras] = process.argv.slice(2);
const usage = "usage: kannon-load.ts URL CONNECTIONS DURATION_MS [THREADS] [PIPELINING] [fast|undici] [plain|one-step|flow=CSV_PATH] [tls=CA_FILE[,per-request]] [h2=STREAMS]";
const tlsArg = extras.find((e) => e.startsWith("tls="));
const h2Streams = Number(extras.find((e) => e.startsWith("h2="))?.slice(3) ?? 0);
if (!url || !connectionsArg || !durationArg || !TRANSPORT_KINDS.includes(transportArg as TransportKind)) {
  console.error(usage);
  process.exit(2);
}
const threads = Number(threadsArg ?? 1);
const pipelining = Number(pipeliningArg ?? 1);
const concurrency = Number(connectionsArg) * (h2Streams > 0 ? h2Streams : pipelining);
const durationMs = Number(durationArg);

/** The spec's scenarios and data files for SHAPE (none for plain). */
function scenariosOf(shape: string): Pick<SoloAvalancheOptions, "scenarios" | "dataFiles" | "url"> {
  if (shape === "plain") return { url: url! };
  if (shape === "one-step") return { url: new URL(url!).origin, scenarios: oneStepScenarios(new URL(url!).pathname) };
  if (shape.startsWith("flow=")) return { url: new URL(url!).origin, scenarios: flowScenarios(), dataFiles: [flowDataFile(readFileSync(shape.slice(5), "utf8"))] };
  console.error(usage);
  process.exit(2);
}

/** The test's http options from TLS and H2 (none without either). */
function httpOf(arg: string | undefined): ReturnType<typeof create<typeof HttpOptionsSchema>> | undefined {
  const h2 = h2Streams > 0 ? { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: h2Streams, connections: Number(connectionsArg) } : {};
  if (arg === undefined) return h2Streams > 0 ? create(HttpOptionsSchema, h2) : undefined;
  const [caFile, mode] = arg.replace(/^tls=/, "").split(",");
  if (!arg.startsWith("tls=") || !caFile || (mode !== undefined && mode !== "per-request")) {
    console.error(usage);
    process.exit(2);
  }
  return create(HttpOptionsSchema, { ...h2, tls: create(TlsOptionsSchema, { caPem: readFileSync(caFile, "utf8"), handshakePerRequest: mode === "per-request" }) });
}
const http = httpOf(tlsArg);

const total = new MetricsAccumulator();
let lastEndMs = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
let iterations = 0;
let checksPassed = 0;
let checksFailed = 0;
const result = await runSoloAvalanche({
  ...scenariosOf(shape),
  concurrency,
  durationMs,
  reportIntervalMs: 1000,
  threads,
  pipelining,
  transport: transportArg as TransportKind,
  ...(http ? { http } : {}),
  onStartAt: (startAtMs) => {
    // CPU from the start instant on, as for the other generators (the spin before it is tiny).
    setTimeout(() => (cpuStart = process.cpuUsage()), Math.max(0, startAtMs - Date.now()));
  },
  onMetrics: (m) => {
    if (process.env.BENCH_VERBOSE) console.error(`interval ${m.seq}${m.final ? " (final)" : ""}: ${m.requests} requests`);
    total.add(m);
    for (const s of m.scenarios) iterations += Number(s.iterations);
    for (const step of m.steps)
      for (const c of step.checks) {
        checksPassed += Number(c.passed);
        checksFailed += Number(c.failed);
      }
    if (m.intervalEnd) lastEndMs = Math.max(lastEndMs, msOf(m.intervalEnd));
  },
});
const cpuS = cpuStart ? cpuSince(cpuStart) : 0;
if (result.error) console.error(`kannon-load: the driver reported: ${result.error}`);
printResult(
  accumulatedResult(total, result.startAtMs, lastEndMs, cpuS, (stats) => ({
    ...(shape === "plain" ? {} : { iterations, checksPassed, checksFailed }),
    note: `${result.metricsMessages} metrics messages${threads > 1 ? `, ${threads} load threads` : ""}${pipelining > 1 ? `, pipelining ${pipelining}` : ""}${h2Streams > 0 ? `, HTTP/2 ${connectionsArg} × ${h2Streams} streams` : ""}${transportArg === "fast" ? "" : `, ${transportArg}`}${shape === "plain" ? "" : `, ${shape.split("=")[0]}`}${stats.handshake?.count ? `, ${stats.handshake.count} TLS handshakes (p50 ${(Number(stats.handshake.p50Us) / 1000).toFixed(2)} ms)` : ""}`,
  })),
);
