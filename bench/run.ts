/**
 * `npm run bench`: the throughput comparison (against nginx), pacing, honest timing of the
 * one-command run, then the driver heap check; one report at the end.
 * Environment: BENCH_SECONDS (per tool, default 10), BENCH_HEAP_SECONDS (heap window end, default 60),
 * BENCH_CONNECTIONS (default 64), BENCH_ROUNDS (default 1), BENCH_TOOLS (tools or sections, e.g.
 * "kannon,wrk" or "free,pinned"), BENCH_PACING_SECONDS (default 10), BENCH_HEAP_THREADS (default 2),
 * BENCH_PARTS (default "throughput,scenario,data,open,tls,h2,rpc,pacing,timing,heap"), BENCH_OPEN_RATES (default
 * "5000,20000,40000,60000"), BENCH_OPEN_SECONDS (default 8).
 * Exits 1 when the heap check fails or Kannon (plain, its 3-step flow, the data start) could not be measured;
 * speed itself never fails it.
 *
 * `npm run bench -- fleet` runs only the fleet bench (fleet.ts: the orchestrator under simulated
 * drivers over Kafka); it exits 1 when a scenario could not be measured.
 */
import { writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { formatHeap, runDriverHeap, type HeapReport } from "./driver-heap.js";
import { runFleetBench } from "./fleet.js";
import { formatDataStart, runDataStart } from "./data-start.js";
import { formatOpenModel, runOpenModel, type OpenReport } from "./open-model.js";
import { formatScenarioBench, runScenarioBench } from "./scenario-bench.js";
import { formatRpcBench, runRpcBench, type RpcReport } from "./rpc.js";
import { formatTlsBench, runTlsBench, type TlsReport } from "./tls.js";
import { formatH2Bench, runH2Bench, type H2Report } from "./h2.js";
import { formatThroughput, runThroughput, startBenchTarget, type ThroughputReport } from "./throughput.js";
import { formatPacing, formatTiming, runHonestTiming, runPacing, type PacingReport, type TimingReport } from "./timing.js";

if (process.argv.slice(2).includes("fleet")) process.exitCode = (await runFleetBench()) ? 0 : 1;
else await runThroughputAndHeap();

/** The default bench: throughput comparison, scenarios, the open model, pacing, honest timing, then the driver heap check. */
async function runThroughputAndHeap(): Promise<void> {
  const started = new Date();
  const parts = (process.env.BENCH_PARTS ?? "throughput,scenario,data,open,tls,h2,rpc,pacing,timing,heap").split(",").map((p) => p.trim());
  const rule = (title: string) => console.log(`\n=== ${title} ${"=".repeat(Math.max(0, 70 - title.length))}`);
  const attempt = async <T>(part: string, title: string, run: () => Promise<T>): Promise<{ value?: T; error: string }> => {
    if (!parts.includes(part)) return { error: "not in BENCH_PARTS" };
    rule(title);
    try {
      return { value: await run(), error: "" };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      console.log(`${part} FAILED: ${error}`);
      return { error };
    }
  };

  const throughput = await attempt("throughput", "1. throughput: Kannon vs other load generators (per core, every core, pipelining)", () => runThroughput());
  const scenario = await attempt("scenario", "1b. scenarios: one step vs plain, a 3-step flow vs k6 (pinned)", () => runScenarioBench());
  const data = await attempt("data", "1c. a 1M-row CSV over 3 drivers on the real broker: time to start, RSS", () => runDataStart());
  const open = await attempt("open", "1d. open model: Kannon's arrival rate vs wrk2 and vegeta at rising rates (pinned)", (): Promise<OpenReport> => runOpenModel());
  const tls = await attempt("tls", "1e. TLS: HTTPS keep-alive vs plain HTTP/1.1, fast path vs undici, handshakes per second vs wrk (pinned)", (): Promise<TlsReport> => runTlsBench());
  const h2 = await attempt("h2", "1e2. HTTP/2 (h2c and TLS): Kannon vs h2load against nginx, same connections × streams (pinned)", (): Promise<H2Report> => runH2Bench());
  const rpc = await attempt("rpc", "1f. unary gRPC: Kannon vs ghz against a grpc-go echo server (pinned)", (): Promise<RpcReport> => runRpcBench());
  const pacing = await attempt("pacing", "2. pacing of the open models at 1000 req/s", async (): Promise<PacingReport> => {
    const { target } = await startBenchTarget((l) => console.log(l));
    try {
      return await runPacing(`${target.url}/ping`);
    } finally {
      await target.stop();
    }
  });
  const timing = await attempt("timing", "3. honest timing of the one-command run (kannon run vs wrk)", (): Promise<TimingReport> => runHonestTiming());
  const heap = await attempt("heap", "4. driver heap over an avalanche run (main thread and each load thread)", (): Promise<HeapReport> => runDriverHeap());

  const kannonOk = throughput.value?.tools.some((t) => t.tool.startsWith("kannon") && t.status === "ok") ?? false;
  const file = join(tmpdir(), `kannon-bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { startedAt: started.toISOString(), node: process.version, cores: cpus().length, throughput: throughput.value, scenario: scenario.value, data: data.value, open: open.value, tls: tls.value, h2: h2.value, rpc: rpc.value, pacing: pacing.value, timing: timing.value, heap: heap.value, errors: { throughput: throughput.error, scenario: scenario.error, data: data.error, open: open.error, tls: tls.error, h2: h2.error, rpc: rpc.error, pacing: pacing.error, timing: timing.error, heap: heap.error } },
      null,
      2,
    ),
  );

  rule("report");
  const t: ThroughputReport | undefined = throughput.value;
  if (t) {
    console.log(`throughput (${t.connections} connections, ${t.seconds} s per tool, GET ${t.url}; target: ${t.targetNote}):`);
    console.log(formatThroughput(t.tools));
  } else console.log(`throughput: not measured (${throughput.error})`);
  console.log("");
  console.log(scenario.value ? formatScenarioBench(scenario.value) : `scenarios: not measured (${scenario.error})`);
  console.log("");
  console.log(data.value ? formatDataStart(data.value) : `data: not measured (${data.error})`);
  console.log("");
  console.log(open.value ? formatOpenModel(open.value) : `open model: not measured (${open.error})`);
  console.log("");
  console.log(tls.value ? formatTlsBench(tls.value) : `tls: not measured (${tls.error})`);
  console.log("");
  console.log(h2.value ? formatH2Bench(h2.value) : `h2: not measured (${h2.error})`);
  console.log("");
  console.log(rpc.value ? formatRpcBench(rpc.value) : `rpc: not measured (${rpc.error})`);
  console.log("");
  console.log(pacing.value ? formatPacing(pacing.value) : `pacing: not measured (${pacing.error})`);
  console.log("");
  console.log(timing.value ? formatTiming(timing.value) : `honest timing: not measured (${timing.error})`);
  console.log("");
  if (heap.value) console.log(formatHeap(heap.value));
  else console.log(`driver heap: not measured (${heap.error})`);
  console.log(`\nresults (JSON): ${file}`);
  const heapOk = !parts.includes("heap") || heap.value?.pass === true;
  const throughputOk = !parts.includes("throughput") || kannonOk;
  const scenarioOk = !parts.includes("scenario") || (scenario.value?.rows.some((r) => r.tool.startsWith("kannon 3-step") && r.status === "ok") ?? false);
  const dataOk = !parts.includes("data") || data.value !== undefined;
  const pass = heapOk && throughputOk && scenarioOk && dataOk;
  console.log(`bench: ${pass ? "PASS" : "FAIL"}${throughputOk ? "" : " (Kannon's throughput was not measured)"}${scenarioOk ? "" : " (Kannon's 3-step flow was not measured)"}${dataOk ? "" : " (the data start was not measured)"}${heapOk ? "" : " (driver heap check did not pass)"}`);
  process.exitCode = pass ? 0 : 1;
}
