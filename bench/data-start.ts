/**
 * The data part of `npm run bench`: a 1-million-row CSV (about 50 MB, flow.ts's users) split over 3
 * driver processes on the real broker. One development broker, one orchestrator process, three
 * `kannon driver` processes and Kannon's own target (its flow API); the 3-step flow runs for a few
 * seconds once the test starts. Measured: how long CreateTest takes (upload, validation, storage),
 * the time from StartTest until the test's start instant (every driver holding its part), and each
 * driver's RSS: idle before the test, at the start (holding its rows), its peak, and after the end.
 * Environment: BENCH_DATA_ROWS (default 1000000), BENCH_DATA_SECONDS (the test's length, default 5).
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestSpecSchema, TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { freePorts, startKafka } from "../scripts/kafka-broker.js";
import { flowCsv, flowDataFile, flowScenarios } from "./flow.js";
import { procRssMb, sampleProcess, spawnReady, type BenchChild, type ProcUsage } from "./fleet-procs.js";
import { envNumber, procCpuS, ROOT, startTargetProcess, table, type TargetProcess } from "./lib.js";

const DRIVERS = 3;

/** One driver's memory over the run, in MiB. */
export interface DriverRss { id: string; idleMb: number; atStartMb: number; peakMb: number; endMb: number }

/** What the part measured. */
export interface DataStartReport {
  rows: number;
  csvMb: number;
  /** CreateTest's round trip (the spec with its data file: upload, validation, storage). */
  createMs: number;
  /** StartTest's round trip. */
  startCallMs: number;
  /** From the StartTest call to the test's start instant (start_at): the parts delivered, every driver ready, the start delay. */
  untilStartMs: number;
  /** CPU seconds from the StartTest call to the start instant: the orchestrator's, and each driver's. */
  orchestratorStartCpuS: number;
  driversStartCpuS: number[];
  state: string;
  message: string;
  requests: number;
  drivers: DriverRss[];
  orchestrator: ProcUsage | undefined;
  loadAverage: [number, number];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs the part; throws when it could not be measured, always cleans up. */
export async function runDataStart(log: (l: string) => void = (l) => console.log(l)): Promise<DataStartReport> {
  const rows = Math.round(envNumber("BENCH_DATA_ROWS", 1_000_000));
  const seconds = envNumber("BENCH_DATA_SECONDS", 5);
  const loadBefore = loadavg()[0]!;
  const csv = flowCsv(rows);
  const csvMb = Buffer.byteLength(csv) / 1024 / 1024;
  log(`data: ${rows} rows, ${csvMb.toFixed(1)} MiB of CSV over ${DRIVERS} drivers on a real broker; load average ${loadBefore.toFixed(2)} on ${cpus().length} cores`);
  const workDir = await mkdtemp(join(tmpdir(), "kannon-bench-data-"));
  const children: BenchChild[] = [];
  let target: TargetProcess | undefined;
  const broker = await startKafka({ log });
  try {
    target = await startTargetProcess();
    const prefix = `data-${process.pid}-`;
    const bus = ["--kafka", broker.bootstrap, "--topic-prefix", prefix];
    const [port] = await freePorts(undefined, undefined);
    const orch = await spawnReady(ROOT, "cli/kannon.ts", ["orchestrator", ...bus, "--data", join(workDir, "orchestrator"), "--port", String(port)], /listening on (http:\/\/\S+)/, 60_000);
    children.push(orch.child);
    const ids = Array.from({ length: DRIVERS }, (_, i) => `bench-data-${i + 1}`);
    for (const id of ids) children.push((await spawnReady(ROOT, "cli/kannon.ts", ["driver", ...bus, "--id", id], /joined the fleet/, 60_000)).child);
    const drivers = children.slice(1);
    const client = createClient(OrchestratorService, createGrpcTransport({ baseUrl: orch.match[1]! }));
    for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
      const { drivers: seen } = await client.listDrivers({});
      if (ids.every((id) => seen.some((d) => d.id === id && d.state === DriverState.READY))) break;
      if (Date.now() > deadline) throw new Error(`the ${DRIVERS} drivers were not READY within 60 s`);
    }
    const idle = drivers.map((d) => procRssMb(d.pid) ?? NaN);
    const orchSampler = sampleProcess(orch.child.pid);
    const samplers = drivers.map((d) => sampleProcess(d.pid, 100));
    const spec = create(TestSpecSchema, {
      name: "bench: 1M-row CSV over 3 drivers",
      targetUrl: target.url,
      driverCount: DRIVERS,
      reportIntervalMs: 1000,
      scenarios: flowScenarios(),
      dataFiles: [flowDataFile(csv)],
      workload: { case: "avalanche", value: { concurrency: 2 * DRIVERS, limit: { case: "durationMs", value: seconds * 1000 } } },
    });
    const t0 = performance.now();
    const { test } = await client.createTest({ spec });
    const createMs = performance.now() - t0;
    const testId = test!.id;
    log(`data: CreateTest took ${createMs.toFixed(0)} ms`);
    const cpuBefore = children.map((c) => procCpuS(c.pid) ?? NaN);
    let cpuAtStart: number[] = [];
    const startCalledMs = Date.now();
    const t1 = performance.now();
    await client.startTest({ testId });
    const startCallMs = performance.now() - t1;
    let startAtMs: number | undefined;
    let atStart: number[] = [];
    let state = TestState.UNSPECIFIED;
    let message = "";
    for (const deadline = Date.now() + 300_000 + seconds * 1000; ; await sleep(100)) {
      const { test: t } = await client.getTest({ testId });
      state = t!.state;
      message = t!.message;
      if (startAtMs === undefined && t!.startAt) {
        startAtMs = msOf(t!.startAt);
        await sleep(Math.max(0, startAtMs - Date.now()));
        atStart = drivers.map((d) => procRssMb(d.pid) ?? NaN);
        cpuAtStart = children.map((c, i) => (procCpuS(c.pid) ?? NaN) - cpuBefore[i]!);
        log(`data: the test starts ${startAtMs - startCalledMs} ms after StartTest`);
      }
      if (state >= TestState.COMPLETED) break;
      if (Date.now() > deadline) throw new Error(`the test did not end within ${(deadline - startCalledMs) / 1000} s (state ${TestState[state]})`);
    }
    const usages = samplers.map((s) => s.finish());
    const { report } = await client.getReport({ testId });
    return {
      rows,
      csvMb,
      createMs,
      startCallMs,
      untilStartMs: startAtMs === undefined ? NaN : startAtMs - startCalledMs,
      orchestratorStartCpuS: cpuAtStart[0] ?? NaN,
      driversStartCpuS: cpuAtStart.slice(1),
      state: TestState[state] ?? String(state),
      message,
      requests: Number(report?.total?.requests ?? 0n),
      drivers: ids.map((id, i) => ({ id, idleMb: idle[i]!, atStartMb: atStart[i] ?? NaN, peakMb: usages[i]!.rssMaxMb, endMb: usages[i]!.rssEndMb })),
      orchestrator: orchSampler.finish(),
      loadAverage: [loadBefore, loadavg()[0]!],
    };
  } finally {
    for (const c of children.reverse()) await c.stop(15_000);
    await target?.stop();
    await broker.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The part's lines. */
export function formatDataStart(r: DataStartReport): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "-");
  return [
    `data: ${r.rows} rows (${r.csvMb.toFixed(1)} MiB CSV, exclusive split) over ${r.drivers.length} drivers on the real broker: ` +
      `CreateTest ${f(r.createMs)} ms; StartTest → start ${f(r.untilStartMs)} ms (StartTest answered in ${f(r.startCallMs)} ms; ` +
      `CPU meanwhile: orchestrator ${r.orchestratorStartCpuS.toFixed(1)} s, drivers ${r.driversStartCpuS.map((c) => c.toFixed(1)).join(" / ")} s); ` +
      `test ${r.state}${r.message ? ` (${r.message})` : ""}, ${r.requests} requests`,
    table(
      ["driver", "RSS idle MB", "at start MB", "peak MB", "end MB"],
      r.drivers.map((d) => [d.id, f(d.idleMb), f(d.atStartMb), f(d.peakMb), f(d.endMb)]),
    ),
    `  orchestrator RSS start/peak/end ${r.orchestrator ? [r.orchestrator.rssStartMb, r.orchestrator.rssMaxMb, r.orchestrator.rssEndMb].map(f).join("/") : "-"} MB; ` +
      `load average ${r.loadAverage[0].toFixed(2)} before, ${r.loadAverage[1].toFixed(2)} after`,
  ].join("\n");
}
