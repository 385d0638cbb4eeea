/**
 * Honest-timing child: the whole one-process fleet of `kannon run` (orchestrator, API, LMDB and
 * drivers; startEmbedded) runs an avalanche against a target in another process and prints a
 * LoadResult with the report's p50/p99 and the fleet's start skew. MODE `threads` is the default
 * (drivers' load on worker threads); `inline` runs it on the main thread, as before, for comparison.
 * Usage: node --import tsx bench/embedded-load.ts URL DRIVERS CONCURRENCY_PER_DRIVER DURATION_MS threads|inline
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startEmbedded } from "../cli/embedded.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { cpuSince, printResult } from "./load-result.js";

const [url, driversArg, concurrencyArg, durationArg, mode] = process.argv.slice(2);
if (!url || !driversArg || !concurrencyArg || !durationArg || (mode !== "threads" && mode !== "inline")) {
  console.error("usage: embedded-load.ts URL DRIVERS CONCURRENCY_PER_DRIVER DURATION_MS threads|inline");
  process.exit(2);
}
const drivers = Number(driversArg);
const fleet = await startEmbedded({ drivers, target: false, inline: mode === "inline" });
try {
  const client = createClient(OrchestratorService, createConnectTransport({ baseUrl: fleet.server.url, httpVersion: "1.1" }));
  const spec = create(TestSpecSchema, {
    name: `bench embedded ${mode}`,
    targetUrl: url,
    driverCount: drivers,
    reportIntervalMs: 1000,
    workload: { case: "avalanche", value: { concurrency: Number(concurrencyArg), limit: { case: "durationMs", value: Number(durationArg) } } },
  });
  const { test } = await client.createTest({ spec });
  const cpu0 = process.cpuUsage();
  await client.startTest({ testId: test!.id });
  for await (const m of client.watchTest({ testId: test!.id }, { timeoutMs: Number(durationArg) + 60_000 })) void m;
  const cpuS = cpuSince(cpu0);
  const { report } = await client.getReport({ testId: test!.id });
  const total = report!.total!;
  printResult({
    requests: Number(total.requests),
    errors: Number(total.errors),
    durationS: total.requestsPerS > 0 ? Number(total.requests) / total.requestsPerS : 0,
    reqPerS: total.requestsPerS,
    p50Ms: Number(total.latency?.p50Us ?? 0n) / 1000,
    p99Ms: Number(total.latency?.p99Us ?? 0n) / 1000,
    cpuS,
    note: `fleet start skew ${(Number(report!.fleetStartSkewUs) / 1000).toFixed(2)} ms; drivers' skews ${report!.drivers.map((d) => (Number(d.startSkewUs) / 1000).toFixed(2)).join(", ")} ms`,
    startSkewMs: Number(report!.fleetStartSkewUs) / 1000,
    driverSkewsMs: report!.drivers.map((d) => Number(d.startSkewUs) / 1000),
  });
} finally {
  await fleet.close();
}
