import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { existsSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { grpcClient, until } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";
import { runExample } from "./example-runs.js";
import { flowCases, type FlowFleet } from "./scenario-cases.js";

const examples = join(import.meta.dirname, "..", "examples");
const exampleFiles = (existsSync(examples) ? readdirSync(examples) : []).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

// Issue 20's "Done when" over a real Kafka broker: the target, the orchestrator and 3 drivers each
// an OS process of its own (test/scenarios-in-process.test.ts runs the same cases in one process).
describe("scenarios over a real Kafka broker with driver processes, against the target's flow API", () => {
  const kafka = inject("kafkaBootstrap");
  const prefix = `scenarios-${process.pid}-`;
  const driverIds = ["s1", "s2", "s3"];
  const procs: KannonProcess[] = [];
  let dataDir: string;
  let fleet: FlowFleet & { apiUrl: string };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "kannon-scenarios-"));
    const start = async (args: string[], ready: RegExp) => {
      const started = await startKannon(args, ready);
      procs.push(started.proc);
      return started.match;
    };
    const [target, api] = await Promise.all([
      start(["target", "--port", "0"], /listening on (http:\/\/\S+)/),
      start(["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"], /listening on (http:\/\/\S+)/),
    ]);
    const client = grpcClient(api[1]!);
    // s3 runs its share on 2 load threads: the mix, rows and flows hold per driver, whatever its threads.
    const threads = (id: string) => (id === "s3" ? ["--threads", "2"] : []);
    await Promise.all(driverIds.map((id) => start(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id, ...threads(id)], /joined the fleet/)));
    const ready = async () => (await client.listDrivers({})).drivers.filter((d) => d.state === DriverState.READY).length;
    await until(async () => (await ready()) === driverIds.length, 20_000, "3 drivers READY");
    fleet = { client, targetUrl: target[1]!, driverIds, apiUrl: api[1]! };
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  flowCases(() => fleet);

  it("examples/ holds at least three spec files", () => expect(exampleFiles.length).toBeGreaterThanOrEqual(3));
  it.each(exampleFiles)("examples/%s runs with kannon test -f, its report equal to the target's counts", (file) => runExample(fleet, join(examples, file)));
});
