/**
 * The HTTP/2 part of `npm run bench` (issue 23): h2load against Kannon against nginx's h2c
 * listener (`listen … http2`) and its TLS listener with `http2` (ALPN h2; a certificate made for
 * the run, no session resumption), the same connections and streams (h2load's -c and -m; Kannon's
 * --connections and --streams), the generator pinned to CPU 0 and nginx to CPU 1, each row
 * cross-checked against nginx's own request count. The goal is a ratio in one run: Kannon's
 * req/s per core (requests ÷ its CPU seconds) at least 0.5× h2load's, on h2c and over TLS.
 * Environment: BENCH_SECONDS (default 10), BENCH_H2_CONNECTIONS (4), BENCH_H2_STREAMS (32).
 */
import { cpus, loadavg } from "node:os";
import { createTlsFixtures } from "../test/tls-fixtures.js";
import { envNumber, isMain, ms, onPath, table } from "./lib.js";
import type { LoadResult } from "./load-result.js";
import { startNginx } from "./nginx.js";
import { external, nodeChild } from "./tool-runs.js";
import { closedPort } from "../test/helpers.js";

/** One row: a generator's run and what nginx counted. */
export interface H2Row {
  /** `h2c` (prior knowledge) or `tls` (h2 by ALPN). */
  wire: "h2c" | "tls";
  tool: string;
  result?: LoadResult;
  targetRequests?: number;
  error?: string;
}

/** The whole HTTP/2 part. */
export interface H2Report {
  connections: number;
  streams: number;
  seconds: number;
  loadAverage: [number, number];
  rows: H2Row[];
}

/** Parses h2load's summary (it prints the mean latency, no percentiles). */
export function parseH2load(out: string, cpuS: number): LoadResult {
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
  const requests = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!finished || !requests) throw new Error(`cannot parse h2load output: ${out.slice(-400)}`);
  const done = Number(requests[2]);
  const meanMs = mean ? Number(mean[1]) * (mean[2] === "us" ? 0.001 : mean[2] === "s" ? 1000 : 1) : Number.NaN;
  return {
    requests: done,
    errors: Number(requests[4]) + Number(requests[5]) + Number(requests[6]),
    durationS: Number(finished[1]),
    reqPerS: Number(finished[2]),
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    cpuS,
    note: `h2load prints no percentiles: mean ${meanMs.toFixed(2)} ms`,
  };
}

/** Runs h2load and Kannon (BENCH_SECONDS each) and prints the table with the ratio. */
export async function runH2Bench(log: (l: string) => void = (l) => console.log(l)): Promise<H2Report> {
  const seconds = envNumber("BENCH_SECONDS", 10);
  const connections = envNumber("BENCH_H2_CONNECTIONS", 4);
  const streams = envNumber("BENCH_H2_STREAMS", 32);
  if (cpus().length < 2) throw new Error("the HTTP/2 part needs 2 cores (the generator pinned to CPU 0, nginx to CPU 1)");
  const loadBefore = loadavg()[0]!;
  const port = await closedPort();
  const certs = await createTlsFixtures();
  const nginx = await startNginx(`    listen 127.0.0.1:${port} http2;\n`, { certFile: certs.server.certFile, keyFile: certs.server.keyFile, http2: true });
  const url = `http://127.0.0.1:${port}/ping`;
  const tlsUrl = `${nginx.tlsUrl!}/ping`;
  const pin = ["taskset", "-c", "0"];
  const rows: H2Row[] = [];
  log(`h2: nginx h2c ${url} and h2 over TLS ${tlsUrl} on CPU 1, generators on CPU 0, ${connections} connections × ${streams} streams, ${seconds} s per row; load average ${loadBefore.toFixed(2)}`);
  const h2load = (target: string) => async () => (await external("h2load", [...pin, "h2load", "-c", String(connections), "-m", String(streams), "-D", String(seconds), target], seconds, undefined, parseH2load)).result;
  const kannon = (target: string, ...tls: string[]) => () => nodeChild("kannon", "bench/kannon-load.ts", [target, String(connections), String(seconds * 1000), "1", "1", "fast", "plain", ...tls, `h2=${streams}`], seconds, pin);
  try {
    nginx.pin("1");
    const tools: { wire: H2Row["wire"]; name: string; run: () => Promise<LoadResult> }[] = [
      { wire: "h2c", name: `h2load -c ${connections} -m ${streams}`, run: h2load(url) },
      { wire: "h2c", name: `kannon --http2 --connections ${connections} --streams ${streams}`, run: kannon(url) },
      { wire: "tls", name: `h2load -c ${connections} -m ${streams} https`, run: h2load(tlsUrl) },
      { wire: "tls", name: `kannon --http2 --connections ${connections} --streams ${streams} https`, run: kannon(tlsUrl, `tls=${certs.ca.certFile}`) },
    ];
    for (const tool of tools) {
      const row: H2Row = { wire: tool.wire, tool: tool.name };
      rows.push(row);
      if (tool.name.startsWith("h2load") && !onPath("h2load")) {
        row.error = "h2load is not on PATH (Debian: apt-get install nghttp2-client)";
        continue;
      }
      await nginx.reset();
      try {
        row.result = await tool.run();
        row.targetRequests = (await nginx.counts()).requests;
        log(`h2: ${tool.name}: ${row.result.reqPerS.toFixed(0)} req/s, ${row.result.requests} requests (nginx saw ${row.targetRequests}), ${row.result.errors} errors, ${row.result.cpuS.toFixed(2)} CPU s`);
      } catch (err) {
        row.error = err instanceof Error ? err.message : String(err);
        log(`h2: ${tool.name} FAILED: ${row.error}`);
      }
    }
  } finally {
    await nginx.stop();
    await certs.cleanup();
  }
  const report: H2Report = { connections, streams, seconds, loadAverage: [loadBefore, loadavg()[0]!], rows };
  log("");
  log(formatH2Bench(report));
  return report;
}

const perCore = (r: LoadResult) => (r.cpuS > 0 ? r.requests / r.cpuS : Number.NaN);

/** The table and the ratio of Kannon's req/s per core to h2load's. */
export function formatH2Bench(report: H2Report): string {
  const lines = [`HTTP/2 against nginx, h2c and h2 over TLS (${report.connections} connections × ${report.streams} streams, pinned: generator CPU 0, nginx CPU 1):`];
  const ok = report.rows.filter((r) => r.result);
  lines.push(
    table(
      ["wire", "tool", "requests", "req/s", "p50 ms", "p99 ms", "errors", "target saw", "CPU s", "req/s per core", "CPU µs/req"],
      ok.map((r) => {
        const x = r.result!;
        return [r.wire, r.tool, String(x.requests), x.reqPerS.toFixed(0), ms(x.p50Ms), ms(x.p99Ms), String(x.errors), String(r.targetRequests ?? "-"), x.cpuS.toFixed(2), perCore(x).toFixed(0), ((x.cpuS * 1e6) / x.requests).toFixed(2)];
      }),
    ),
  );
  for (const wire of ["h2c", "tls"] as const) {
    const h2load = ok.find((r) => r.wire === wire && r.tool.startsWith("h2load"))?.result;
    const kannon = ok.find((r) => r.wire === wire && r.tool.startsWith("kannon"))?.result;
    if (h2load && kannon) lines.push(`  ${wire}: Kannon ÷ h2load, req/s per core: ${(perCore(kannon) / perCore(h2load)).toFixed(2)} (goal ≥ 0.50); req/s: ${(kannon.reqPerS / h2load.reqPerS).toFixed(2)}`);
  }
  for (const r of ok) if (r.result!.note) lines.push(`  ${r.tool}: ${r.result!.note}`);
  for (const r of report.rows.filter((x) => x.error)) lines.push(`  ${r.tool}: ${r.error}`);
  lines.push(`  machine load average (1 min): ${report.loadAverage[0].toFixed(2)} before, ${report.loadAverage[1].toFixed(2)} after, on ${cpus().length} cores.`);
  return lines.join("\n");
}

if (isMain(import.meta.url)) await runH2Bench();
