/**
 * The clock contract over a real Kafka broker, every piece its own process: one driver runs under
 * libfaketime (Debian's faketime package) with its clock 2 s ahead. Its offset is measured from
 * the clock probes and shown in ListDrivers; a test that would include it is refused with a
 * message naming its clock (it used to run, its intervals refused as "too far ahead", and end
 * partial and short); a test on the other driver runs exactly, its report showing the offset.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { ensureDebianPackage } from "../scripts/debian-package.js";
import { grpcClient, rpcError, runToEnd, spec, targetCounts, until, type OrchestratorClient } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

describe("a driver whose clock runs 2 s ahead (libfaketime)", () => {
  const kafka = inject("kafkaBootstrap");
  const prefix = `clock-${process.pid}-`;
  const procs: KannonProcess[] = [];
  let dataDir: string;
  let targetUrl: string;
  let client: OrchestratorClient;

  beforeAll(async () => {
    // Debian's faketime, installed with apt-get once when missing (never a silent skip).
    await ensureDebianPackage({ name: "faketime", file: LIBFAKETIME, executable: false, about: "a few seconds" }, (m) => process.stderr.write(`${m}\n`));
    dataDir = await mkdtemp(join(tmpdir(), "kannon-clock-"));
    const target = await startKannon(["target", "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(target.proc);
    targetUrl = target.match[1]!;
    const orch = await startKannon(["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", dataDir, "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(orch.proc);
    client = grpcClient(orch.match[1]!);
    const driver = async (id: string, env: Record<string, string> = {}) => {
      const { proc } = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id], /joined the fleet/, 30_000, { env });
      procs.push(proc);
    };
    await Promise.all([driver("on-time"), driver("ahead", { LD_PRELOAD: LIBFAKETIME, FAKETIME: "+2s" })]);
    // Both measured (a probe a second, echoed in the next heartbeat).
    await until(async () => (await client.listDrivers({})).drivers.filter((d) => d.clock).length === 2, 20_000, "both drivers' clocks measured");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await rm(dataDir, { recursive: true, force: true });
  });

  it("ListDrivers shows each driver's clock offset", async () => {
    const { drivers } = await client.listDrivers({});
    const byId = new Map(drivers.map((d) => [d.id, d.clock!]));
    const ahead = byId.get("ahead")!;
    const onTime = byId.get("on-time")!;
    expect(Math.abs(Number(ahead.offsetUs) - 2_000_000)).toBeLessThan(Number(ahead.errorUs) + 50_000);
    expect(Math.abs(Number(onTime.offsetUs))).toBeLessThan(Number(onTime.errorUs) + 50_000);
    expect(ahead.errorUs).toBeLessThan(500_000n);
  });

  it("a test that would include it is refused, naming its clock; never run short", async () => {
    for (const driverCount of [2, 0]) {
      const { test } = await client.createTest({
        spec: spec({ targetUrl, driverCount, reportIntervalMs: 100, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "durationMs", value: 1500 } } } }),
      });
      const err = await rpcError(client.startTest({ testId: test!.id }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/driver ahead: its clock is (?:1\.9|2\.0)\d{2} s ahead of \(± [\d.]+ ms\) the orchestrator's, beyond the ±500 ms a fleet must keep: synchronise it \(NTP\)/);
      expect((await client.getTest({ testId: test!.id })).test!.state).toBe(TestState.CREATED);
    }
    expect((await targetCounts(targetUrl)).requests).toBe(0);
  });

  it("a test on the driver within the bound runs exactly, its report showing the offset", async () => {
    const { id, messages } = await runToEnd(
      client,
      spec({ targetUrl, driverCount: 1, reportIntervalMs: 100, workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 1500 } } } }),
    );
    const report = messages[messages.length - 1]!.report!;
    expect(report.state).toBe(TestState.COMPLETED);
    expect(report.partial).toBe(false);
    expect(report.drivers.map((d) => d.driverId)).toEqual(["on-time"]);
    expect(report.drivers[0]!.clock).toBeDefined();
    expect(Number(report.total!.requests)).toBe((await targetCounts(targetUrl)).requests);
    expect(report.total!.requests).toBeGreaterThan(250n);
    expect(id).toBeTruthy();
  });
});
