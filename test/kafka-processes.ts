/**
 * A fleet over the real Kafka broker for issue 23's end-to-end tests (test/rpc-kafka.test.ts,
 * test/protocols-kafka.test.ts): an orchestrator and driver processes of their own, and targets
 * started as `kannon target` processes, every one stopped by {@link KafkaFleet.stop}.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import https from "node:https";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import type { TargetCounts } from "../target/target.js";
import { grpcClient, until, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

/** An orchestrator and its READY drivers, each an OS process. */
export interface KafkaFleet {
  client: OrchestratorClient;
  apiUrl: string;
  driverIds: string[];
  /** Starts `kannon target ARGS` (a process stopped with the fleet); resolves its base URL. */
  target(args?: string[]): Promise<string>;
  /** Stops every process and removes the data directory. */
  stop(): Promise<void>;
}

/**
 * Starts an orchestrator on a fresh data directory and topic prefix `prefix` on the broker
 * `kafka`, then `drivers` driver processes (`${prefix}d1`, …), and waits until they are READY.
 */
export async function startKafkaFleet(kafka: string, prefix: string, drivers: number): Promise<KafkaFleet> {
  const dataDir = await mkdtemp(join(tmpdir(), `kannon-${prefix}`));
  const procs: KannonProcess[] = [];
  const start = async (args: string[], ready: RegExp) => {
    const started = await startKannon(args, ready);
    procs.push(started.proc);
    return started.match[1]!;
  };
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const apiUrl = await start(["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"], /listening on (http:\/\/\S+)/);
    const client = grpcClient(apiUrl);
    const driverIds = Array.from({ length: drivers }, (_, i) => `${prefix}d${i + 1}`);
    await Promise.all(driverIds.map((id) => start(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id], /(joined) the fleet/)));
    const ready = async () => (await client.listDrivers({})).drivers.filter((d) => d.state === DriverState.READY).length;
    await until(async () => (await ready()) === drivers, 20_000, `${drivers} drivers READY`);
    return {
      client,
      apiUrl,
      driverIds,
      target: (args = []) => start(["target", "--port", "0", ...args], /listening on (https?:\/\/\S+)/),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Client certificate and CA for reading a TLS target's counters (mutual TLS). */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** A GET or POST to the target (https with `tls`); resolves the status and body. */
function call(url: string, method: "GET" | "POST", tls?: ClientTls): Promise<{ status: number; body: string }> {
  if (!url.startsWith("https:")) return fetch(url, { method }).then(async (r) => ({ status: r.status, body: await r.text() }));
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ...tls, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject).end();
  });
}

/** The target's counters (GET /metrics), over TLS with `tls`. */
export async function countsOf(targetUrl: string, tls?: ClientTls): Promise<TargetCounts> {
  const { status, body } = await call(`${targetUrl}/metrics`, "GET", tls);
  if (status !== 200) throw new Error(`GET ${targetUrl}/metrics answered ${status}: ${body}`);
  return JSON.parse(body) as TargetCounts;
}

/** Zeroes the target's counters (POST /reset), over TLS with `tls`. */
export async function resetCounts(targetUrl: string, tls?: ClientTls): Promise<void> {
  const { status, body } = await call(`${targetUrl}/reset`, "POST", tls);
  if (status !== 204) throw new Error(`POST ${targetUrl}/reset answered ${status}: ${body}`);
}

/** A protobuf map of counts (bigint values) as numbers, to compare with a server's JSON counts. */
export const numbers = (m: { [k: string | number]: bigint }): Record<string, number> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));
