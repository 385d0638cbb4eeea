/**
 * The TLS part of `npm run bench` (issue 23): against nginx with a TLS listener (a certificate made
 * for the run, TLS 1.2 and 1.3 offered: 1.3 is negotiated, no session resumption), the generator pinned to CPU 0 and nginx to CPU 1, 64
 * connections:
 * - keep-alive: Kannon over plain HTTP/1.1 and over HTTPS on the fast path (its records sealed
 *   natively, tls-record.ts, and, for the A/B, carried by node's TLS socket) and on undici; node's
 *   sockets alone over both (bench/node-floor.ts, the floor of any Node.js loop) and wrk over both
 *   (goal: HTTPS within 20 % of plain HTTP/1.1 req/s per core; the faster path is the default for
 *   https);
 * - a handshake per request: Kannon (both paths) and wrk with `Connection: close`, each counted as
 *   nginx's accepted connections per second (every connection one full handshake).
 * Ratios in one run, never an absolute goal.
 */
import { cpus, loadavg } from "node:os";
import { createTlsFixtures } from "../test/tls-fixtures.js";
import { envNumber, isMain, ms, onPath, table } from "./lib.js";
import type { LoadResult } from "./load-result.js";
import { startNginx } from "./nginx.js";
import { external, nodeChild, parseWrk } from "./tool-runs.js";

/** One row: a generator's run and what nginx counted. */
export interface TlsRow {
  section: "keep-alive" | "handshake per request";
  tool: string;
  result?: LoadResult;
  /** Requests and connections nginx counted during the run. */
  targetRequests?: number;
  targetConnections?: number;
  error?: string;
}

/** The whole TLS part. */
export interface TlsReport {
  connections: number;
  seconds: number;
  loadAverage: [number, number];
  rows: TlsRow[];
}

interface TlsTool {
  section: TlsRow["section"];
  name: string;
  run(urls: { http: string; https: string }, caFile: string, connections: number, seconds: number, pin: string[]): Promise<LoadResult>;
}

const kannon = (kind: "fast" | "undici", https: boolean, perRequest: boolean, nodeTls = false) => (urls: { http: string; https: string }, caFile: string, c: number, s: number, pin: string[]) =>
  nodeChild(
    "kannon",
    "bench/kannon-load.ts",
    [https ? urls.https : urls.http, String(c), String(s * 1000), "1", "1", kind, "plain", ...(https ? [`tls=${caFile}${perRequest ? ",per-request" : ""}`] : [])],
    s,
    // KANNON_NODE_TLS=1: node's TLS socket carries the records (tls-record.ts), for the A/B row.
    nodeTls ? ["env", "KANNON_NODE_TLS=1", ...pin] : pin,
  );
const wrk = (perRequest: boolean, https = true) => async (urls: { http: string; https: string }, _ca: string, c: number, s: number, pin: string[]) =>
  (await external("wrk", [...pin, "wrk", "-t1", `-c${c}`, `-d${s}s`, "--latency", ...(perRequest ? ["-H", "Connection: close"] : []), https ? urls.https : urls.http], s, undefined, parseWrk)).result;

/** Node's sockets alone (bench/node-floor.ts): the least a Node.js loop spends per request. */
const nodeFloor = (https: boolean) => (urls: { http: string; https: string }, caFile: string, c: number, s: number, pin: string[]) =>
  nodeChild("node-floor", "bench/node-floor.ts", [https ? urls.https : urls.http, String(c), String(s * 1000), ...(https ? [caFile] : [])], s, pin);

const TOOLS: TlsTool[] = [
  { section: "keep-alive", name: "kannon http (fast)", run: kannon("fast", false, false) },
  { section: "keep-alive", name: "kannon https (fast)", run: kannon("fast", true, false) },
  { section: "keep-alive", name: "kannon https (fast, node:tls records)", run: kannon("fast", true, false, true) },
  { section: "keep-alive", name: "kannon https (undici)", run: kannon("undici", true, false) },
  { section: "keep-alive", name: "node:net loop (floor)", run: nodeFloor(false) },
  { section: "keep-alive", name: "node:tls loop (floor)", run: nodeFloor(true) },
  { section: "keep-alive", name: "wrk -t1 http", run: wrk(false, false) },
  { section: "keep-alive", name: "wrk -t1 https", run: wrk(false) },
  { section: "handshake per request", name: "kannon https (fast)", run: kannon("fast", true, true) },
  { section: "handshake per request", name: "kannon https (undici)", run: kannon("undici", true, true) },
  { section: "handshake per request", name: "wrk -t1 https, Connection: close", run: wrk(true) },
];

/** Runs every row (BENCH_SECONDS each, BENCH_CONNECTIONS connections) and prints the table. */
export async function runTlsBench(log: (l: string) => void = (l) => console.log(l)): Promise<TlsReport> {
  const seconds = envNumber("BENCH_SECONDS", 10);
  const connections = envNumber("BENCH_CONNECTIONS", 64);
  if (cpus().length < 2) throw new Error("the TLS part needs 2 cores (the generator pinned to CPU 0, nginx to CPU 1)");
  const loadBefore = loadavg()[0]!;
  const certs = await createTlsFixtures();
  const rows: TlsRow[] = [];
  try {
    const nginx = await startNginx("", { certFile: certs.server.certFile, keyFile: certs.server.keyFile });
    const urls = { http: `${nginx.url}/ping`, https: `${nginx.tlsUrl!}/ping` };
    log(`tls: nginx ${urls.http} and ${urls.https} on CPU 1, generators on CPU 0, ${connections} connections, ${seconds} s per row; load average ${loadBefore.toFixed(2)}`);
    try {
      nginx.pin("1");
      for (const tool of TOOLS) {
        const row: TlsRow = { section: tool.section, tool: tool.name };
        rows.push(row);
        if (tool.name.startsWith("wrk") && !onPath("wrk")) {
          row.error = "wrk is not on PATH (Debian: apt-get install wrk)";
          continue;
        }
        await nginx.reset();
        try {
          row.result = await tool.run(urls, certs.ca.certFile, connections, seconds, ["taskset", "-c", "0"]);
          const counts = await nginx.counts();
          row.targetRequests = counts.requests;
          if (counts.connections !== undefined) row.targetConnections = counts.connections;
          log(`tls: [${tool.section}] ${tool.name}: ${row.result.reqPerS.toFixed(0)} req/s, ${counts.connections} connections, ${row.result.errors} errors`);
        } catch (err) {
          row.error = err instanceof Error ? err.message : String(err);
          log(`tls: [${tool.section}] ${tool.name} FAILED: ${row.error}`);
        }
      }
    } finally {
      await nginx.stop();
    }
  } finally {
    await certs.cleanup();
  }
  const report: TlsReport = { connections, seconds, loadAverage: [loadBefore, loadavg()[0]!], rows };
  log("");
  log(formatTlsBench(report));
  return report;
}

/** Handshakes per second: nginx's accepted connections over the run. */
const handshakesPerS = (r: TlsRow) => (r.result && r.targetConnections !== undefined && r.result.durationS > 0 ? r.targetConnections / r.result.durationS : Number.NaN);
const cpuUsPer = (r: LoadResult, n: number) => (n > 0 && Number.isFinite(r.cpuS) ? (r.cpuS * 1e6) / n : Number.NaN);
const fixed = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "-");

/** The two tables with their ratios. */
export function formatTlsBench(report: TlsReport): string {
  const lines: string[] = [];
  const ok = (section: TlsRow["section"]) => report.rows.filter((r) => r.section === section && r.result);
  const find = (section: TlsRow["section"], tool: string) => report.rows.find((r) => r.section === section && r.tool === tool)?.result;
  const plain = find("keep-alive", "kannon http (fast)");
  lines.push(`TLS, keep-alive (${report.connections} connections, pinned: generator CPU 0, nginx CPU 1):`);
  lines.push(
    table(
      ["tool", "requests", "req/s", "p50 ms", "p99 ms", "errors", "target saw", "CPU µs/req", "÷ kannon http"],
      ok("keep-alive").map((r) => {
        const x = r.result!;
        return [r.tool, String(x.requests), x.reqPerS.toFixed(0), ms(x.p50Ms), ms(x.p99Ms), String(x.errors), String(r.targetRequests ?? "-"), fixed(cpuUsPer(x, x.requests), 1), plain ? (x.reqPerS / plain.reqPerS).toFixed(2) : "-"];
      }),
    ),
  );
  const fast = find("keep-alive", "kannon https (fast)");
  const undici = find("keep-alive", "kannon https (undici)");
  const perCore = (x: LoadResult) => (x.cpuS > 0 ? x.requests / x.cpuS : Number.NaN);
  const ratio = (a: LoadResult | undefined, b: LoadResult | undefined) => (a && b ? `${(a.reqPerS / b.reqPerS).toFixed(2)} req/s, ${fixed(perCore(a) / perCore(b), 2)} per core` : "-");
  if (fast && plain) lines.push(`  HTTPS keep-alive ÷ plain HTTP/1.1, Kannon's fast path: ${ratio(fast, plain)} (goal ≥ 0.80)`);
  const floorTls = find("keep-alive", "node:tls loop (floor)");
  const floorPlain = find("keep-alive", "node:net loop (floor)");
  if (floorTls && floorPlain) lines.push(`  HTTPS keep-alive ÷ plain HTTP/1.1, node's sockets alone (no recording): ${ratio(floorTls, floorPlain)}: what node's TLS socket costs a loop that does nothing else`);
  const wrkHttp = find("keep-alive", "wrk -t1 http");
  const wrkHttps = find("keep-alive", "wrk -t1 https");
  if (wrkHttp && wrkHttps) lines.push(`  HTTPS keep-alive ÷ plain HTTP/1.1, wrk (C, OpenSSL): ${ratio(wrkHttps, wrkHttp)}: what TLS costs a generator whose plain loop is as lean`);
  const nodeRecords = find("keep-alive", "kannon https (fast, node:tls records)");
  if (fast && nodeRecords) lines.push(`  HTTPS fast path, records sealed natively ÷ carried by node's TLS socket (KANNON_NODE_TLS=1): ${ratio(fast, nodeRecords)}`);
  if (fast && undici) lines.push(`  HTTPS fast path ÷ undici: ${(fast.reqPerS / undici.reqPerS).toFixed(2)} req/s (above 1: the fast path, the default for https, is faster)`);
  lines.push("", `TLS, a new connection (full handshake) per request:`);
  const perRequest = ok("handshake per request");
  const wrkRow = perRequest.find((r) => r.tool.startsWith("wrk"));
  lines.push(
    table(
      ["tool", "requests", "req/s", "handshakes/s", "errors", "target requests", "target connections", "CPU µs/handshake", "÷ wrk"],
      perRequest.map((r) => {
        const x = r.result!;
        const hs = handshakesPerS(r);
        return [r.tool, String(x.requests), x.reqPerS.toFixed(0), fixed(hs), String(x.errors), String(r.targetRequests ?? "-"), String(r.targetConnections ?? "-"), fixed(cpuUsPer(x, r.targetConnections ?? 0), 1), wrkRow ? fixed(hs / handshakesPerS(wrkRow), 2) : "-"];
      }),
    ),
  );
  lines.push("  handshakes/s: nginx's accepted connections per second of the run (no session resumption: each a full handshake).");
  for (const r of report.rows.filter((x) => x.error)) lines.push(`  ${r.tool} [${r.section}]: ${r.error}`);
  lines.push(`  machine load average (1 min): ${report.loadAverage[0].toFixed(2)} before, ${report.loadAverage[1].toFixed(2)} after, on ${cpus().length} cores.`);
  return lines.join("\n");
}

if (isMain(import.meta.url)) await runTlsBench();
