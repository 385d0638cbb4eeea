/**
 * Idle connections before authentication: 5,000 TCP connections that never send a byte, against
 * an orchestrator process limited to 2,048 file descriptors (prlimit), over a real Kafka broker
 * with a driver process. The API must keep answering and a test must run exactly meanwhile; the
 * server closes the silent connections (the oldest first when too many wait, the rest after the
 * first-byte timeout) instead of holding them until the descriptors run out.
 */
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, runToEnd, spec, targetCounts, until, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const IDLE = 5000;
const FD_LIMIT = 2048;

describe(`${IDLE} idle connections against an orchestrator with ${FD_LIMIT} file descriptors`, () => {
  const kafka = inject("kafkaBootstrap");
  const prefix = `idle-${process.pid}-`;
  const procs: KannonProcess[] = [];
  const sockets: net.Socket[] = [];
  let dataDir: string;
  let targetUrl: string;
  let apiUrl: string;
  let client: OrchestratorClient;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-idle-"));
    const target = await startKannon(["target", "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(target.proc);
    targetUrl = target.match[1]!;
    const orch = await startKannon(["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"], /listening on (http:\/\/\S+)/, 30_000, {
      execPrefix: ["prlimit", `--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--"],
    });
    procs.push(orch.proc);
    apiUrl = orch.match[1]!;
    client = grpcClient(apiUrl);
    const driver = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", "idle-d1"], /joined the fleet/);
    procs.push(driver.proc);
    await until(async () => (await client.listDrivers({})).drivers.length === 1, 20_000, "the driver registered");
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await rm(dataDir, { recursive: true, force: true });
  });

  it("the API answers, a test runs exactly, and the silent connections are closed by the server", async () => {
    const { port, hostname } = new URL(apiUrl);
    let closed = 0;
    // In batches, so the listen backlog is not what limits them.
    for (let i = 0; i < IDLE; i += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, IDLE - i) }, () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host: hostname, port: Number(port) });
            sockets.push(s);
            s.on("error", () => undefined);
            s.once("close", () => closed++);
            s.once("connect", () => resolve());
            s.once("close", () => resolve());
          }),
        ),
      );
    }
    // With every idle connection still open on our side, the API answers...
    const started = Date.now();
    const { drivers } = await client.listDrivers({}, { timeoutMs: 10_000 });
    expect(drivers.map((d) => d.id)).toEqual(["idle-d1"]);
    expect(Date.now() - started).toBeLessThan(5000);
    // ...and a test over the bus runs exactly.
    const { messages } = await runToEnd(
      client,
      spec({ targetUrl, driverCount: 1, reportIntervalMs: 200, workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 1000 } } } }),
    );
    const report = messages[messages.length - 1]!.report!;
    expect(report.state).toBe(TestState.COMPLETED);
    expect(report.partial).toBe(false);
    expect(Number(report.total!.requests)).toBe((await targetCounts(targetUrl)).requests);
    // The server closes every connection that never spoke (first-byte timeout: 10 s).
    await until(() => closed === IDLE, 30_000, `all ${IDLE} silent connections closed by the server (${closed} so far)`);
  }, 120_000);
});
