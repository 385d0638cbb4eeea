import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { DataFormat, DataOrder, DataSplit, OnExhausted } from "../gen/kannon/v1/scenario_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, runToEnd, spec, until, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";
import { flowCounts, resetTarget } from "./scenario-cases.js";

/** Rows of the file: at most the target's MAX_FLOW_KEYS row ids are counted apart. */
const ROWS = 9000;
/** id, user and 600 characters of padding: ~5.5 MB, about four chunks per driver's part. */
const CSV = ["id,user,pad", ...Array.from({ length: ROWS }, (_, i) => `${i + 1},u${i + 1},${"p".repeat(600)}`)].join("\n") + "\n";

// A multi-MB data file over a real Kafka broker, to driver processes: each driver's part travels in
// several chunks on the `data` topic, every driver confirms it on `data_ready` before the START, and
// the target sees every row exactly once.
describe("data files over a real Kafka broker, to 3 driver processes", () => {
  const kafka = inject("kafkaBootstrap");
  const prefix = `data-${process.pid}-`;
  const procs: KannonProcess[] = [];
  let dataDir: string;
  let client: OrchestratorClient;
  let targetUrl: string;
  let orchestrator: KannonProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-kafka-data-"));
    const start = async (args: string[], ready: RegExp) => {
      const started = await startKannon(args, ready);
      procs.push(started.proc);
      return started;
    };
    const [target, api] = await Promise.all([
      start(["target", "--port", "0"], /listening on (http:\/\/\S+)/),
      start(["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"], /listening on (http:\/\/\S+)/),
    ]);
    targetUrl = target.match[1]!;
    orchestrator = api.proc;
    client = grpcClient(api.match[1]!);
    await Promise.all(["k1", "k2", "k3"].map((id) => start(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id], /joined the fleet/)));
    const ready = async () => (await client.listDrivers({})).drivers.filter((d) => d.state === DriverState.READY).length;
    await until(async () => (await ready()) === 3, 20_000, "3 drivers READY");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("a 5.5 MB CSV split over 3 drivers: every row used once, the stored test keeps only its size and rows", async () => {
    await resetTarget(targetUrl);
    const startedAt = performance.now();
    const { id } = await runToEnd(
      client,
      spec({
        targetUrl: `${targetUrl}/`,
        driverCount: 3,
        dataFiles: [{ name: "users", format: DataFormat.CSV, content: CSV, split: DataSplit.EXCLUSIVE, order: DataOrder.SEQUENTIAL, onExhausted: OnExhausted.STOP }],
        scenarios: [{ name: "rows", weight: 1, dataFile: "users", steps: [{ name: "find", url: "/search?q={{row.user}}", headers: { "x-row-id": "{{row.id}}" } }] }],
        // More iterations than a driver has rows: each stops when its part is used up.
        workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 5000n } } },
      }),
    );
    const ranMs = performance.now() - startedAt;
    const { report } = await client.getReport({ testId: id });
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    const counts = await flowCounts(targetUrl);
    const ids = Object.keys(counts.byRow).map(Number).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    expect(Object.values(counts.byRow).every((n) => n === 1)).toBe(true);
    expect(report!.total!.requests).toBe(BigInt(ROWS));
    const { test } = await client.getTest({ testId: id });
    expect(test!.spec!.dataFiles[0]).toMatchObject({ content: "", contentBytes: BigInt(Buffer.byteLength(CSV)), rows: BigInt(ROWS) });
    expect(orchestrator.output()).not.toMatch(/could not send|too large|MESSAGE_TOO_LARGE/i);
    console.log(`kafka-data: ${Buffer.byteLength(CSV)} bytes, ${ROWS} rows over 3 drivers: created, started and ran in ${Math.round(ranMs)} ms`);
  }, 120_000);
});
