/**
 * `node --import tsx bench/store-size.ts`: LMDB's size after 1,000 short tests, run through the orchestrator's
 * real ingest path (in-process bus, fake drivers sending real encoded histograms): each test has
 * 3 drivers × 5 intervals and their finals. Prints the store's size with the raw driver intervals
 * compacted away (as the orchestrator leaves it) and after retention deletes half the tests.
 */
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { heartbeat, metrics, registerAll } from "../test/fake-fleet.js";
import { spec, until } from "../test/helpers.js";

const TESTS = Number(process.env.BENCH_STORE_TESTS ?? 1000);
const DRIVERS = ["s1", "s2", "s3"];
const INTERVALS = 5;

/** Runs the store-size measurement and prints its lines; returns them for the report. */
export async function runStoreSize(): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "kannon-store-size-"));
  const transport = createMemoryTransport();
  const o = await Orchestrator.open({ bus: createBus(transport, { log: () => {} }), dataDir: join(dir, "db"), log: () => {} });
  const lines: string[] = [];
  try {
    await registerAll(transport, DRIVERS);
    await until(() => o.fleet.size === DRIVERS.length, 5000, "drivers registered");
    const started = Date.now();
    for (let i = 0; i < TESTS; i++) {
      const test = o.createTest(
        spec({
          name: `short test ${i}`,
          targetUrl: "http://127.0.0.1:9/",
          reportIntervalMs: 1000,
          startDelayMs: 1,
          workload: { case: "avalanche", value: { concurrency: 8, limit: { case: "durationMs", value: INTERVALS * 1000 } } },
        }),
      );
      const startAtMs = msOf((await o.startTest(test.id)).startAt!);
      await transport.send(DRIVERS.map((d) => heartbeat(d, test.id)));
      await transport.send(DRIVERS.flatMap((d) => Array.from({ length: INTERVALS }, (_, seq) => metrics(test.id, d, seq, startAtMs, 1000))));
      await transport.send(DRIVERS.map((d) => metrics(test.id, d, INTERVALS, startAtMs, 1000, true)));
      await until(() => o.getTest(test.id).state === TestState.COMPLETED, 10_000, `test ${i} completed`);
      await transport.send(DRIVERS.map((d) => heartbeat(d)));
      await until(() => DRIVERS.every((d) => o.fleet.ready().some((r) => r.id === d)), 5000, "drivers READY again");
    }
    await new Promise((r) => setTimeout(r, 500)); // let compaction commit
    const file = statSync(join(dir, "db", "data.mdb")).size;
    lines.push(
      `store: ${TESTS} tests (3 drivers × ${INTERVALS} intervals each) in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
        `${(o.storeSizeBytes() / 1024 / 1024).toFixed(1)} MB in use, data.mdb ${(file / 1024 / 1024).toFixed(1)} MB ` +
        `(${Math.round(o.storeSizeBytes() / TESTS / 1024)} KB per test: test, report, merged intervals; raw driver intervals compacted)`,
    );
  } finally {
    await o.close();
    await rm(dir, { recursive: true, force: true });
  }
  for (const l of lines) console.log(l);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) await runStoreSize();
