/**
 * The Kafka data plane survives a broker restart: an orchestrator and two drivers (each with its
 * own Kafka client) stay up while their broker is stopped and started again on the same port and
 * data directory; heartbeats flow again, the drivers are READY, and a second test runs with exact
 * counts. A publish issued while the broker is down is retried, logged with its topic, and lands
 * once the broker is back.
 *
 * This file starts a broker of its own (not the shared one of the global setup), since it stops it.
 */
import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { TriggerAction, TriggerMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestState, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import type { Report } from "../gen/kannon/v1/report_pb.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import { msOf } from "../metrics/stats.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { freePorts, startKafka, type KafkaBroker } from "../scripts/kafka-broker.js";
import { createTarget, type Target } from "../target/target.js";
import { spec, until } from "../test/helpers.js";
import type { Bus } from "./bus.js";
import { openBus } from "./open.js";

const DRIVERS = ["r1", "r2"];
/** The longest the fleet may take to be READY again once the broker is back. */
const RECOVERY_DEADLINE_MS = 30_000;

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

describe("Kafka: the fleet survives a broker restart", () => {
  const prefix = `restart-${process.pid}-`;
  /** Every line logged by the buses, the orchestrator and the drivers, with its source and time. */
  const logs: { at: number; from: string; line: string }[] = [];
  const logTo = (from: string) => (line: string) => {
    logs.push({ at: Date.now(), from, line });
    if (process.env.KANNON_TEST_VERBOSE) process.stderr.write(`${new Date().toISOString()} ${from}: ${line}\n`);
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  let base: string;
  let brokerDir: string;
  let ports: [number, number];
  let broker: KafkaBroker | undefined;
  let bootstrap: string;
  let target: Target;
  let orchestratorBus: Bus;
  let orchestrator: Orchestrator;
  const driverBuses: Bus[] = [];
  const drivers: DriverAgent[] = [];

  const readyIds = () =>
    orchestrator
      .listDrivers().items
      .filter((d) => d.state === DriverState.READY)
      .map((d) => d.id)
      .sort();

  /** Creates, starts and watches a test to its end (bounded); returns its report and the target's count. */
  const runTest = async (s: TestSpec): Promise<{ report: Report; targetRequests: number }> => {
    const before = target.counts().requests;
    const test = orchestrator.createTest(s);
    await orchestrator.startTest(test.id);
    const states: TestState[] = [];
    await withDeadline(
      new Promise<void>((end) => orchestrator.watchTest(test.id, { update: (u) => states.push(u.test.state), end })),
      30_000,
      `watching test ${test.id}`,
    );
    expect(states.at(-1)).toBe(TestState.COMPLETED);
    const report = orchestrator.getReport(test.id);
    if (report.partial) {
      process.stderr.write(`report of ${test.id}: partial (${report.message})\n`);
      for (const d of report.drivers) process.stderr.write(`  ${d.driverId}: finished=${d.finished} requests=${d.stats?.requests} ${d.message}\n`);
    }
    return { report, targetRequests: target.counts().requests - before };
  };

  /** 300 requests from each driver, 2 at a time. */
  const workload = () =>
    spec({
      targetUrl: `${target.url}/ping`,
      driverCount: DRIVERS.length,
      reportIntervalMs: 250,
      workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 300n } } },
    });

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    base = await mkdtemp(join(tmpdir(), "kannon-kafka-restart-"));
    brokerDir = join(base, "broker");
    // Two free loopback ports (client and controller), kept for the restart.
    ports = await freePorts(undefined, undefined);
    broker = await startKafka({ port: ports[0], controllerPort: ports[1], dataDir: brokerDir, log: logTo("broker") });
    bootstrap = broker.bootstrap;
    target = await createTarget();
    orchestratorBus = await openBus({ kafka: bootstrap, topicPrefix: prefix, clientId: "orchestrator", log: logTo("orchestrator-bus") });
    orchestrator = await Orchestrator.open({ bus: orchestratorBus, dataDir: join(base, "lmdb"), log: logTo("orchestrator") });
    for (const id of DRIVERS) {
      const bus = await openBus({ kafka: bootstrap, topicPrefix: prefix, clientId: id, log: logTo(`${id}-bus`) });
      driverBuses.push(bus);
      const driver = createDriver({ bus, id, log: logTo(id) });
      await driver.start();
      drivers.push(driver);
    }
    await until(() => readyIds().length === DRIVERS.length, 20_000, "both drivers READY");
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(drivers.map((d) => withDeadline(d.stop({ deadlineMs: 3000 }), 10_000, "driver stop")));
    await Promise.allSettled(driverBuses.map((b) => withDeadline(b.close(), 10_000, "driver bus close")));
    if (orchestrator) await withDeadline(orchestrator.close(), 10_000, "orchestrator close").catch(() => {});
    if (orchestratorBus) await withDeadline(orchestratorBus.close(), 10_000, "orchestrator bus close").catch(() => {});
    await target?.close();
    await broker?.stop();
    if (base) await rm(base, { recursive: true, force: true });
    process.off("unhandledRejection", onUnhandled);
  }, 60_000);

  it("runs a test with exact counts before the restart", async () => {
    const { report, targetRequests } = await runTest(workload());
    expect(report.state).toBe(TestState.COMPLETED);
    expect(report.partial).toBe(false);
    expect(report.total!.requests).toBe(600n);
    expect(report.total!.errors).toBe(0n);
    expect(targetRequests).toBe(600);
  });

  it("recovers from a broker restart: a publish meanwhile is retried, no driver is declared MISSING for the outage, a second test has exact counts", async () => {
    onTestFailed(() => {
      const t0 = logs[0]?.at ?? 0;
      process.stderr.write(
        `fleet: ${JSON.stringify(orchestrator.listDrivers().items.map((d) => [d.id, DriverState[d.state], d.lastHeartbeatAt ? msOf(d.lastHeartbeatAt) - t0 : null]))}\n` +
          logs
            .filter((l) => !/ECONNREFUSED/.test(l.line))
            .map((l) => `  [${l.at - t0} ms] ${l.from}: ${l.line}`)
            .join("\n") +
          "\n",
      );
    });
    const transitions: string[] = [];
    const unsubscribe = orchestrator.fleet.subscribe((d) => transitions.push(`${d.id}:${DriverState[d.state]}`));
    try {
      const stopAt = Date.now();
      await broker!.stop({ keepData: true });
      broker = undefined;
      const stoppedAt = Date.now();

      // A publish while the broker is down: a cancel trigger for a test nobody runs (drivers ignore it).
      const probe = orchestratorBus
        .publish("trigger", "probe-test", create(TriggerMessageSchema, { testId: "probe-test", action: TriggerAction.CANCEL }))
        .then(
          () => ({ ok: true as const, at: Date.now() }),
          (err: unknown) => ({ ok: false as const, at: Date.now(), err }),
        );
      // Keep the broker down until the first attempt (kafkajs's own retries inside) has failed and
      // the transport has said so, naming the topic and key; its next attempt must land.
      const firstAttempt = /send of 1 record\(s\) to trigger \(key probe-test\) failed \(attempt 1\/3\).*retrying in \d+ ms/;
      await until(() => logs.some((l) => l.from === "orchestrator-bus" && firstAttempt.test(l.line)), 25_000, "the first send attempt to fail");
      const firstFailedAt = Date.now();

      broker = await startKafka({ port: ports[0], controllerPort: ports[1], dataDir: brokerDir, log: logTo("broker") });
      expect(broker.bootstrap).toBe(bootstrap);
      const restartedAt = Date.now();

      const probed = await withDeadline(probe, 30_000, "the probe publish");
      if (!probed.ok) throw new Error(`the publish issued while the broker was down failed after it came back: ${String(probed.err)}`);

      // Every driver READY again, with a heartbeat received after the restart...
      const freshlyReady = () =>
        orchestrator
          .listDrivers().items
          .filter((d) => d.state === DriverState.READY && d.lastHeartbeatAt && msOf(d.lastHeartbeatAt) > restartedAt)
          .map((d) => d.id)
          .sort();
      await until(() => freshlyReady().join() === DRIVERS.join(), RECOVERY_DEADLINE_MS, "both drivers READY after the restart");
      const recoveredAt = Date.now();
      // ...and never declared MISSING: while the orchestrator itself could not reach the broker,
      // their silence proved nothing (it said so), and after it they got a fresh heartbeat window.
      for (const id of DRIVERS) {
        const mine = transitions.filter((t) => t.startsWith(`${id}:`));
        expect(mine, `${id} transitions`).not.toContain(`${id}:MISSING`);
        expect(orchestrator.fleet.get(id)!.state, `${id} state`).toBe(DriverState.READY);
      }
      expect(logs.some((l) => l.from === "orchestrator" && /the bus is unreachable/.test(l.line))).toBe(true);
      expect(orchestrator.stats.busStalls).toBeGreaterThanOrEqual(1);
      // And they keep beating: still READY after longer than the MISSING limit.
      await new Promise((r) => setTimeout(r, 3500));
      expect(readyIds()).toEqual(DRIVERS);
      for (const d of orchestrator.listDrivers().items) expect(Date.now() - msOf(d.lastHeartbeatAt!)).toBeLessThan(2500);

      process.stderr.write(
        `kafka-restart: broker stopped in ${stoppedAt - stopAt} ms; first send attempt failed after ${firstFailedAt - stoppedAt} ms; ` +
          `broker back ${restartedAt - firstFailedAt} ms later; probe landed ${probed.at - restartedAt} ms and the fleet was READY ` +
          `${recoveredAt - restartedAt} ms after the restart; consumers run again by the transport: ` +
          `${logs.filter((l) => /kafkajs gave up/.test(l.line)).length}\n`,
      );

      const { report, targetRequests } = await runTest(workload());
      expect(report.state).toBe(TestState.COMPLETED);
      expect(report.partial).toBe(false);
      expect(report.drivers.map((d) => [d.driverId, d.stats!.requests])).toEqual(DRIVERS.map((id) => [id, 300n]));
      expect(report.total!.requests).toBe(600n);
      expect(report.total!.errors).toBe(0n);
      expect(targetRequests).toBe(600);
      expect(unhandled).toEqual([]);
    } finally {
      unsubscribe();
    }
  }, 90_000);
});
