/**
 * `npm run bench`: the throughput comparison, then the driver heap check; one report at the end.
 * Environment: BENCH_SECONDS (per tool, default 10), BENCH_HEAP_SECONDS (heap window end, default 60),
 * BENCH_CONNECTIONS (default 32), BENCH_ROUNDS (default 1), BENCH_TOOLS (e.g. "kannon,wrk").
 * Exits 1 when the heap check fails or Kannon could not be measured; speed itself never fails it.
 *
 * `npm run bench -- fleet` runs only the fleet bench (fleet.ts: the orchestrator under simulated
 * drivers over Kafka); it exits 1 when a scenario could not be measured.
 */
import { writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { formatHeap, runDriverHeap, type HeapReport } from "./driver-heap.js";
import { runFleetBench } from "./fleet.js";
import { formatThroughput, runThroughput, type ThroughputReport } from "./throughput.js";

if (process.argv.slice(2).includes("fleet")) process.exitCode = (await runFleetBench()) ? 0 : 1;
else await runThroughputAndHeap();

/** The default bench: throughput comparison, then the driver heap check. */
async function runThroughputAndHeap(): Promise<void> {
  const started = new Date();
  const rule = (title: string) => console.log(`\n=== ${title} ${"=".repeat(Math.max(0, 70 - title.length))}`);

  rule("1. throughput: Kannon vs other load generators");
  let throughput: ThroughputReport | undefined;
  let throughputError = "";
  try {
    throughput = await runThroughput();
  } catch (err) {
    throughputError = err instanceof Error ? err.message : String(err);
    console.log(`throughput FAILED: ${throughputError}`);
  }

  rule("2. driver heap over an avalanche run");
  let heap: HeapReport | undefined;
  let heapError = "";
  try {
    heap = await runDriverHeap();
  } catch (err) {
    heapError = err instanceof Error ? err.message : String(err);
    console.log(`driver heap FAILED: ${heapError}`);
  }

  const kannonOk = throughput?.tools.some((t) => t.tool === "kannon" && t.status === "ok") ?? false;
  const file = join(tmpdir(), `kannon-bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({ startedAt: started.toISOString(), node: process.version, cores: cpus().length, throughput, throughputError, heap, heapError }, null, 2),
  );

  rule("report");
  if (throughput) {
    console.log(`throughput (${throughput.connections} connections, ${throughput.seconds} s per tool, GET ${throughput.url}):`);
    console.log(formatThroughput(throughput.tools));
  } else console.log(`throughput: not measured (${throughputError})`);
  console.log("");
  if (heap) console.log(formatHeap(heap));
  else console.log(`driver heap: not measured (${heapError})`);
  console.log(`\nresults (JSON): ${file}`);
  const pass = kannonOk && heap?.pass === true;
  console.log(`bench: ${pass ? "PASS" : "FAIL"}${kannonOk ? "" : " (Kannon's throughput was not measured)"}${heap?.pass === true ? "" : " (driver heap check did not pass)"}`);
  process.exitCode = pass ? 0 : 1;
}
