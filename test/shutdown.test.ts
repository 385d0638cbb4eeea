/**
 * Shutdown with the broker unreachable: SIGTERM on an orchestrator, a driver (idle or mid-run)
 * and a target exits within 10 s; a second signal exits at once. This file starts a broker of its
 * own, since it stops it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, startKafka, type KafkaBroker } from "../scripts/kafka-broker.js";
import { grpcClient, spec, startRunning, until } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const EXIT_WITHIN_MS = 10_000;

describe("shutdown with the broker unreachable", () => {
  let base: string;
  let broker: KafkaBroker | undefined;
  const procs: KannonProcess[] = [];
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kannon-shutdown-"));
    const [port, controllerPort] = await freePorts(undefined, undefined);
    broker = await startKafka({ port, controllerPort, dataDir: join(base, "broker"), log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(procs.map((p) => p.stop("SIGKILL")));
    await broker?.stop();
    await rm(base, { recursive: true, force: true });
  }, 30_000);

  const timedStop = async (p: KannonProcess, signals: NodeJS.Signals[]) => {
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => p.child.once("exit", (code) => resolve(code)));
    for (const [i, s] of signals.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, 300));
      p.child.kill(s);
    }
    const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 20_000))]);
    return { code, ms: Date.now() - started };
  };

  it("SIGTERM exits every process within 10 s; a second signal exits at once", async () => {
    const kafka = broker!.bootstrap;
    const prefix = `shutdown-${process.pid}-`;
    const { proc: orch, match } = await startKannon(
      ["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", join(base, "data"), "--port", "0"],
      /listening on (http:\/\/\S+)/,
      60_000,
    );
    procs.push(orch);
    const { proc: target, match: t } = await startKannon(["target", "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(target);
    const drivers: KannonProcess[] = [];
    for (const id of ["busy-1", "idle-1", "forced-1"]) {
      const { proc } = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id], /joined the fleet/, 60_000);
      procs.push(proc);
      drivers.push(proc);
    }
    const client = grpcClient(match[1]!);
    await until(async () => (await client.listDrivers({})).drivers.filter((d) => d.state === 1).length === 3, 20_000, "3 drivers READY");
    // One driver runs a long test when the broker goes away.
    await startRunning(
      client,
      spec({ targetUrl: `${t[1]}/ping`, driverCount: 3, workload: { case: "tsunami", value: { delayMs: 20, limit: { case: "durationMs", value: 60_000 } } } }),
    );
    await broker!.stop({ keepData: true });
    broker = undefined;
    await new Promise((r) => setTimeout(r, 1000));

    const [busy, idle, forced] = drivers as [KannonProcess, KannonProcess, KannonProcess];
    const results = await Promise.all([
      timedStop(busy, ["SIGTERM"]),
      timedStop(idle, ["SIGTERM"]),
      timedStop(orch, ["SIGTERM"]),
      timedStop(target, ["SIGTERM"]),
      timedStop(forced, ["SIGTERM", "SIGTERM"]),
    ]);
    const [rBusy, rIdle, rOrch, rTarget, rForced] = results;
    process.stderr.write(`shutdown: driver mid-run ${rBusy.ms} ms, driver ${rIdle.ms} ms, orchestrator ${rOrch.ms} ms, target ${rTarget.ms} ms, forced ${rForced.ms} ms\n`);
    for (const [what, r] of Object.entries({ rBusy, rIdle, rOrch, rTarget, rForced })) {
      expect(r.code, what).not.toBe("timeout");
      expect(r.ms, what).toBeLessThan(EXIT_WITHIN_MS);
    }
    expect(rTarget.code).toBe(0);
    expect(rForced.ms).toBeLessThan(3000);
    expect(forced.output()).toMatch(/again, exiting now/);
    expect(busy.output()).toMatch(/leaving the fleet/);
  }, 120_000);
});
