/**
 * Backlogs at fleet scale over the real broker: a simulated fleet (bench/fleet-sim.ts, hundreds
 * of drivers in this process, real contracts and histograms, no HTTP) and the orchestrator as a
 * process of its own. The orchestrator is SIGKILLed early in a run and started again on its data
 * well after the run ended: every interval and every final is waiting in Kafka, and the report
 * must hold every request the fleet had acknowledged by the broker, with no driver lost.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFleetSim, type FleetSim } from "../bench/fleet-sim.js";
import type { Report } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { grpcClient, readyDriverCount, spec, until } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const RUN_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

describe("backlogs at fleet scale over a real broker (simulated fleet)", () => {
  const kafka = inject("kafkaBootstrap");
  let base: string;
  const procs: KannonProcess[] = [];
  const sims: FleetSim[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kannon-backlog-"));
  });
  afterAll(async () => {
    await Promise.allSettled(sims.map((s) => s.stop()));
    await Promise.allSettled(procs.map((p) => p.stop("SIGTERM", 10_000)));
    await rm(base, { recursive: true, force: true });
  }, 60_000);

  /** An orchestrator process on `prefix` and `dataDir`, and a client of its API. */
  const orchestrator = async (prefix: string, dataDir: string) => {
    const { proc, match } = await startKannon(
      ["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"],
      /listening on (http:\/\/\S+)/,
      60_000,
    );
    procs.push(proc);
    return { proc, client: grpcClient(match[1]!) };
  };

  /**
   * N simulated drivers at `intervalMs` for a 10 s run; the orchestrator is SIGKILLed 2 s into the
   * run and started again 20 s after the run's end. Returns the report and what the fleet sent.
   */
  async function restartAfterTheRun(label: string, drivers: number, intervalMs: number): Promise<{ report: Report; expected: number; intervals: number }> {
    const prefix = `backlog-${process.pid}-${label}-`;
    const dataDir = join(base, label);
    let { proc, client } = await orchestrator(prefix, dataDir);
    const sim = await startFleetSim({ kafka, topicPrefix: prefix, drivers, log: (m) => process.stderr.write(`${m}\n`) });
    sims.push(sim);
    await until(async () => (await readyDriverCount(client)) === drivers, 60_000, `${drivers} drivers READY`);
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: "http://127.0.0.1:9/",
        driverCount: drivers,
        reportIntervalMs: intervalMs,
        workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: RUN_MS } } },
      }),
    });
    let startAtMs = 0;
    await until(async () => {
      try {
        startAtMs = msOf((await client.startTest({ testId: test!.id })).test!.startAt!);
        return true;
      } catch (err) {
        // A driver may flap between the count and StartTest: try again.
        if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
        return false;
      }
    }, 30_000, "StartTest accepted");
    await sleep(startAtMs + 2000 - Date.now());
    await proc.stop("SIGKILL");
    await sleep(startAtMs + RUN_MS + 20_000 - Date.now());
    const result = sim.results().find((r) => r.testId === test!.id)!;
    expect(result.finalsSent, "every final was acknowledged by the broker before the restart").toBe(drivers);
    ({ proc, client } = await orchestrator(prefix, dataDir));
    const restartedAt = Date.now();
    await until(
      async () => [TestState.COMPLETED, TestState.FAILED, TestState.CANCELLED].includes((await client.getTest({ testId: test!.id })).test!.state),
      120_000,
      "the test to end",
    );
    const { report } = await client.getReport({ testId: test!.id });
    process.stderr.write(
      `backlog ${label}: ended ${Date.now() - restartedAt} ms after the restart; ${report!.total!.requests} of ${result.expectedRequests} requests, ` +
        `${report!.intervalCount} intervals; ${report!.message.slice(0, 300)}\n`,
    );
    await sim.stop();
    await proc.stop("SIGTERM");
    return { report: report!, expected: result.expectedRequests, intervals: result.intervals };
  }

  const expectExact = ({ report, expected, intervals }: { report: Report; expected: number; intervals: number }) => {
    expect(report.state).toBe(TestState.COMPLETED);
    expect(report.partial, report.message.slice(0, 500)).toBe(false);
    expect(report.drivers.every((d) => d.finished)).toBe(true);
    expect(Number(report.total!.requests)).toBe(expected);
    expect(report.intervalCount).toBe(intervals);
    expect(report.intervals.map((i) => i.interval)).toEqual(Array.from({ length: intervals }, (_, i) => i));
    expect(report.intervals.reduce((s, i) => s + i.requests, 0n)).toBe(report.total!.requests);
  };

  it("500 drivers at 100 ms: the orchestrator SIGKILLed 2 s into a 10 s run and back 20 s after its end reports exactly", async () => {
    expectExact(await restartAfterTheRun("r500", 500, 100));
  }, 240_000);

  it("1,000 drivers at 1 s: the same sequence reports exactly", async () => {
    expectExact(await restartAfterTheRun("r1000", 1000, 1000));
  }, 240_000);
});
