/**
 * The simulated fleet as a process of its own (so that its CPU is not the bench's or the
 * orchestrator's):
 *
 *   node --import tsx bench/fleet-sim-main.ts --kafka 127.0.0.1:9092 --topic-prefix P --drivers 1000 --out FILE
 *
 * Prints `fleet-sim: N drivers registered` once every driver has registered and heartbeats run.
 * On SIGTERM or SIGINT it ends running tests, says `leaving` for every driver, writes
 * `{ results, stats }` (see {@link SimTestResult}) as JSON to `--out` (when given) and exits 0.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isMain } from "./lib.js";
import { startFleetSim, type SimTestResult } from "./fleet-sim.js";

/** What the process writes to `--out`. */
export interface FleetSimOutput {
  results: SimTestResult[];
  stats: { sends: number; records: number; failedSends: number; heartbeats: number };
}

/** The line the process prints when its fleet is up. */
export const SIM_READY = /fleet-sim: (\d+) drivers registered/;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kafka: { type: "string" },
      "topic-prefix": { type: "string", default: "" },
      drivers: { type: "string", default: "100" },
      "id-prefix": { type: "string", default: "sim-" },
      "batch-size": { type: "string", default: "100" },
      out: { type: "string" },
    },
    strict: true,
  });
  const drivers = Number(values.drivers);
  const batchSize = Number(values["batch-size"]);
  if (!values.kafka) throw new Error("--kafka host:port is required");
  if (!Number.isInteger(drivers) || drivers < 1 || drivers > 9999) throw new Error(`--drivers must be 1..9999, got ${values.drivers}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${values["batch-size"]}`);
  const sim = await startFleetSim({ kafka: values.kafka, topicPrefix: values["topic-prefix"], drivers, idPrefix: values["id-prefix"], batchSize });
  console.log(`fleet-sim: ${sim.ids.length} drivers registered (${sim.ids[0]} … ${sim.ids.at(-1)}) on ${values.kafka}`);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  await sim.stop();
  const output: FleetSimOutput = { results: sim.results(), stats: sim.stats };
  if (values.out) writeFileSync(values.out, JSON.stringify(output));
  console.log(`fleet-sim: ${signal}, stopped after ${sim.stats.records} records in ${sim.stats.sends} sends (${sim.stats.failedSends} failed)`);
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`fleet-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
