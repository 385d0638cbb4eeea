/**
 * The RPC part of `npm run bench` (issue 23): unary gRPC calls (kannon.target.v1.TargetService/Echo,
 * proto codec, h2c) from Kannon and from ghz against a grpc-go echo server (bench/grpc-echo, built
 * through the Go module proxy), the generator pinned to CPU 0 and the server to CPU 1 (GOMAXPROCS=1),
 * the same connections and calls in flight (ghz `--connections C -c N --cpus 1`; Kannon
 * `http.connections C`, concurrency N). Per row: calls/s, calls/s per core (calls over the
 * generator's CPU seconds), CPU per call; goal Kannon ≥ 1.5× ghz per core and ≤ 0.7× its CPU per
 * call. Ratios in one run, never an absolute goal.
 * Environment: BENCH_SECONDS (default 10), BENCH_RPC_CONNECTIONS (default 1), BENCH_RPC_CONCURRENCY
 * (default 64), BENCH_ROUNDS (default 1: Kannon, ghz, … alternating).
 * Run alone: node --import tsx bench/rpc.ts
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { ensureGoTool } from "../scripts/go-tool.js";
import { cacheRoot } from "../scripts/kafka-jars.js";
import { envNumber, isMain, ms, procCpuS, ROOT, table } from "./lib.js";
import type { LoadResult } from "./load-result.js";
import { external, nodeChild } from "./tool-runs.js";

/** ghz: the gRPC load generator the issue compares against. */
const GHZ = { binary: "ghz", pkg: "github.com/bojand/ghz/cmd/ghz", version: "v0.93.0", about: "about 2 minutes", versionArgs: ["--version"] };
/** The request both send (EchoRequest; the echo server answers it as an EchoResponse). */
const ECHO_JSON = '{"text": "hello kannon"}';

/** One generator's run, with the server's CPU over it. */
export interface RpcRow {
  tool: string;
  result?: LoadResult;
  serverCpuS?: number;
  error?: string;
}

/** The whole RPC part. */
export interface RpcReport {
  connections: number;
  concurrency: number;
  seconds: number;
  loadAverage: [number, number];
  rows: RpcRow[];
}

/** The echo server's binary: built once (go build through the module proxy) into the cache. */
function echoServer(log: (l: string) => void): string {
  const out = join(cacheRoot(), "grpc-echo", "grpc-echo");
  if (existsSync(out)) return out;
  mkdirSync(join(cacheRoot(), "grpc-echo"), { recursive: true });
  log("rpc: building bench/grpc-echo (grpc-go) with go build (once; about 30 s)...");
  execFileSync("go", ["build", "-o", out, "."], { cwd: join(ROOT, "bench", "grpc-echo"), stdio: ["ignore", "ignore", "inherit"], timeout: 600_000, env: { ...process.env, GOFLAGS: "-mod=mod" } });
  return out;
}

/** Starts the echo server on CPU 1 with one Go thread; resolves with its port once it listens. */
function startEcho(binary: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn("taskset", ["-c", "1", binary, "0"], { env: { ...process.env, GOMAXPROCS: "1" }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the grpc-echo server did not listen within 10 s")), 10_000);
    child.once("exit", (code) => reject(new Error(`the grpc-echo server exited (${code}) before listening`)));
    child.stdout!.on("data", (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child });
      }
    });
  });
}

/** ghz's JSON report as a LoadResult (latencies in ns; errors: every call not OK). */
function parseGhz(out: string, cpuS: number): LoadResult {
  const r = JSON.parse(out) as { count: number; total: number; rps: number; latencyDistribution?: { percentage: number; latency: number }[]; statusCodeDistribution?: Record<string, number> };
  const at = (p: number) => (r.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? Number.NaN) / 1e6;
  const ok = r.statusCodeDistribution?.OK ?? 0;
  return { requests: r.count, errors: r.count - ok, durationS: r.total / 1e9, reqPerS: r.rps, p50Ms: at(50), p99Ms: at(99), cpuS, note: "CPU includes its start (parsing the .proto)" };
}

/** Runs the rows (BENCH_ROUNDS rounds of Kannon then ghz) and prints the table. */
export async function runRpcBench(log: (l: string) => void = (l) => console.log(l)): Promise<RpcReport> {
  const seconds = envNumber("BENCH_SECONDS", 10);
  const connections = envNumber("BENCH_RPC_CONNECTIONS", 1);
  const concurrency = envNumber("BENCH_RPC_CONCURRENCY", 64);
  const rounds = envNumber("BENCH_ROUNDS", 1);
  if (cpus().length < 2) throw new Error("the RPC part needs 2 cores (the generator pinned to CPU 0, the server to CPU 1)");
  const ghz = ensureGoTool(GHZ, log);
  const binary = echoServer(log);
  const loadBefore = loadavg()[0]!;
  const { port, child } = await startEcho(binary);
  const rows: RpcRow[] = [];
  const pin = ["taskset", "-c", "0"];
  const runs: [string, () => Promise<LoadResult>][] = [
    ["kannon (grpc, h2c)", () => nodeChild("kannon", "bench/rpc-load.ts", [`http://127.0.0.1:${port}`, String(connections), String(concurrency), String(seconds * 1000)], seconds, pin)],
    [
      "ghz --cpus 1",
      async () =>
        (
          await external(
            "ghz",
            [...pin, ghz, "--insecure", "--proto", join(ROOT, "proto/kannon/target/v1/target.proto"), "--call", "kannon.target.v1.TargetService/Echo", "-d", ECHO_JSON, "-c", String(concurrency), "--connections", String(connections), "--cpus", "1", "-z", `${seconds}s`, "--format", "json", `127.0.0.1:${port}`],
            seconds,
            undefined,
            parseGhz,
          )
        ).result,
    ],
  ];
  log(`rpc: grpc-echo on 127.0.0.1:${port} (CPU 1, GOMAXPROCS=1), generators on CPU 0, ${connections} connection(s), ${concurrency} calls in flight, ${seconds} s per row; load average ${loadBefore.toFixed(2)}`);
  try {
    for (let round = 0; round < rounds; round++)
      for (const [tool, run] of runs) {
        const row: RpcRow = { tool };
        rows.push(row);
        const serverBefore = procCpuS(child.pid!);
        try {
          row.result = await run();
          const serverAfter = procCpuS(child.pid!);
          if (serverBefore !== undefined && serverAfter !== undefined) row.serverCpuS = serverAfter - serverBefore;
          log(`rpc: ${tool}: ${row.result.reqPerS.toFixed(0)} calls/s, ${row.result.cpuS.toFixed(2)} CPU s, ${row.result.errors} errors`);
        } catch (err) {
          row.error = err instanceof Error ? err.message : String(err);
          log(`rpc: ${tool} FAILED: ${row.error}`);
        }
      }
  } finally {
    child.kill("SIGTERM");
  }
  const report: RpcReport = { connections, concurrency, seconds, loadAverage: [loadBefore, loadavg()[0]!], rows };
  log("");
  log(formatRpcBench(report));
  return report;
}

const perCore = (r: LoadResult) => (r.cpuS > 0 ? r.requests / r.cpuS : Number.NaN);
const cpuUsPerCall = (r: LoadResult) => (r.requests > 0 ? (r.cpuS * 1e6) / r.requests : Number.NaN);
const fixed = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "-");

/** The table and Kannon's ratios to ghz (the best row of each). */
export function formatRpcBench(report: RpcReport): string {
  const lines = [`unary gRPC (Echo, proto, h2c) against grpc-go on CPU 1; generators on CPU 0; ${report.connections} connection(s), ${report.concurrency} in flight, ${report.seconds} s each:`];
  lines.push(
    table(
      ["generator", "calls/s", "calls/s per core", "CPU µs/call", "p50", "p99", "errors", "server CPU"],
      report.rows.map((row) => {
        const r = row.result;
        if (!r) return [row.tool, `FAILED: ${row.error ?? "?"}`, "", "", "", "", "", ""];
        const server = row.serverCpuS !== undefined && r.durationS > 0 ? `${((row.serverCpuS / r.durationS) * 100).toFixed(0)} %` : "-";
        return [row.tool, fixed(r.reqPerS), fixed(perCore(r)), fixed(cpuUsPerCall(r), 1), ms(r.p50Ms), ms(r.p99Ms), String(r.errors), server];
      }),
    ),
  );
  const best = (prefix: string) =>
    report.rows
      .filter((row) => row.tool.startsWith(prefix) && row.result !== undefined && row.result.requests > 0)
      .map((row) => row.result!)
      .sort((a, b) => perCore(b) - perCore(a))[0];
  const k = best("kannon");
  const g = best("ghz");
  if (k && g) {
    const speed = perCore(k) / perCore(g);
    const cpu = cpuUsPerCall(k) / cpuUsPerCall(g);
    lines.push(`  Kannon / ghz: ${speed.toFixed(2)}× calls/s per core (goal ≥ 1.5×: ${speed >= 1.5 ? "met" : "not met"}), ${cpu.toFixed(2)}× CPU per call (goal ≤ 0.7×: ${cpu <= 0.7 ? "met" : "not met"}).`);
  }
  lines.push(`  machine load average (1 min): ${report.loadAverage[0].toFixed(2)} before, ${report.loadAverage[1].toFixed(2)} after, on ${cpus().length} cores.`);
  return lines.join("\n");
}

if (isMain(import.meta.url)) await runRpcBench();
