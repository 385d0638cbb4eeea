/**
 * Multi-host: the broker, the orchestrator, the target and three drivers each on a host of its
 * own — network namespaces joined by veth links to one bridge, made (and removed, also on
 * failure) by this test. Cutting one driver's link makes it MISSING within the miss window and
 * the test ends `partial`; restoring the link makes it rejoin. Every process runs the packed and
 * installed npm package's `kannon` (test/installed-package.ts), as real hosts would. Skipped, saying why, where network
 * namespaces cannot be made (not root, no `ip`).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { startKafka, type KafkaBroker } from "../scripts/kafka-broker.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { spec, startRunning, until } from "./helpers.js";
import { installPackage, type InstalledPackage } from "./installed-package.js";
import { startKannon, type KannonProcess } from "./processes.js";

const NET = "169.254.77";
const BRIDGE = "kn-br0";
const TOKEN = "multihost-token-7d1e";
/** Each host: its namespace, its address, the host end of its link. */
const HOSTS = {
  broker: { ns: "kn-broker", ip: `${NET}.1`, link: "kn-v1" },
  orchestrator: { ns: "kn-orch", ip: `${NET}.2`, link: "kn-v2" },
  target: { ns: "kn-target", ip: `${NET}.3`, link: "kn-v3" },
  d1: { ns: "kn-d1", ip: `${NET}.11`, link: "kn-v11" },
  d2: { ns: "kn-d2", ip: `${NET}.12`, link: "kn-v12" },
  d3: { ns: "kn-d3", ip: `${NET}.13`, link: "kn-v13" },
} as const;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

/** Removes everything this test makes; safe to run when none of it exists. */
function teardownNetwork(): void {
  for (const h of Object.values(HOSTS)) {
    try {
      ip("netns", "del", h.ns);
    } catch {
      /* not there */
    }
  }
  try {
    ip("link", "del", BRIDGE);
  } catch {
    /* not there */
  }
}

function setupNetwork(): void {
  teardownNetwork();
  ip("link", "add", BRIDGE, "type", "bridge");
  ip("addr", "add", `${NET}.254/24`, "dev", BRIDGE);
  ip("link", "set", BRIDGE, "up");
  for (const h of Object.values(HOSTS)) {
    ip("netns", "add", h.ns);
    ip("link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.ns);
    ip("link", "set", h.link, "master", BRIDGE, "up");
    ip("netns", "exec", h.ns, "ip", "addr", "add", `${h.ip}/24`, "dev", "eth0");
    ip("netns", "exec", h.ns, "ip", "link", "set", "eth0", "up");
    ip("netns", "exec", h.ns, "ip", "link", "set", "lo", "up");
  }
}

/** Why this machine cannot run the test, or undefined when it can. */
function cannot(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (process.getuid?.() !== 0) return "making network namespaces needs root";
  try {
    ip("netns", "add", "kn-probe");
    ip("netns", "del", "kn-probe");
  } catch (err) {
    return `\`ip netns add\` failed: ${String(err).split("\n")[0]}`;
  }
  return undefined;
}

const reason = cannot();
if (reason) process.stderr.write(`multihost: skipped: ${reason}\n`);

describe.skipIf(reason !== undefined)("multi-host fleet in network namespaces", () => {
  let base: string;
  let broker: KafkaBroker | undefined;
  const procs: KannonProcess[] = [];
  const drivers = new Map<string, KannonProcess>();
  let api: ReturnType<typeof createClient<typeof OrchestratorService>>;
  let targetUrl: string;
  // Every process runs the packed and installed `kannon` (as on real hosts), from outside the repository.
  let pkg: InstalledPackage | undefined;
  const inHost = (h: { ns: string }) => ({ execPrefix: ["ip", "netns", "exec", h.ns], bin: pkg!.kannon, cwd: pkg!.scratch });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kannon-multihost-"));
    pkg = await installPackage();
    setupNetwork();
    broker = await startKafka({ dataDir: join(base, "broker"), host: HOSTS.broker.ip, execPrefix: inHost(HOSTS.broker).execPrefix, log: () => {} });
    const kafka = broker.bootstrap;
    const prefix = `multihost-${process.pid}-`;
    const orch = await startKannon(
      ["orchestrator", "--kafka", kafka, "--topic-prefix", prefix, "--data", join(base, "data"), "--host", HOSTS.orchestrator.ip, "--port", "8080"],
      /listening on (http:\/\/\S+)/,
      60_000,
      { ...inHost(HOSTS.orchestrator), env: { KANNON_TOKEN: TOKEN } },
    );
    procs.push(orch.proc);
    const target = await startKannon(["target", "--host", HOSTS.target.ip, "--port", "8081"], /listening on (http:\/\/\S+)/, 30_000, inHost(HOSTS.target));
    procs.push(target.proc);
    targetUrl = target.match[1]!;
    for (const id of ["d1", "d2", "d3"] as const) {
      const h = HOSTS[id];
      const { proc } = await startKannon(["driver", "--kafka", kafka, "--topic-prefix", prefix, "--id", id, "--address", h.ip], /joined the fleet/, 60_000, inHost(h));
      procs.push(proc);
      drivers.set(id, proc);
    }
    // This process reaches the orchestrator over the bridge, with the token.
    api = createClient(
      OrchestratorService,
      createGrpcTransport({ baseUrl: orch.match[1]!, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${TOKEN}`), next(req))] }),
    );
    await until(async () => (await api.listDrivers({})).drivers.filter((d) => d.state === DriverState.READY).length === 3, 30_000, "3 drivers READY");
  }, 180_000);

  afterAll(async () => {
    try {
      ip("link", "set", HOSTS.d3.link, "up");
    } catch {
      /* gone */
    }
    await Promise.allSettled(procs.map((p) => p.stop("SIGTERM", 10_000)));
    await broker?.stop();
    teardownNetwork();
    if (base) await rm(base, { recursive: true, force: true });
    await pkg?.remove();
  }, 60_000);

  it("cutting a driver's link makes it MISSING within the miss window and the test partial; restoring it makes it rejoin", async () => {
    const drivers0 = (await api.listDrivers({})).drivers;
    expect(drivers0.map((d) => [d.id, d.address]).sort()).toEqual([
      ["d1", HOSTS.d1.ip],
      ["d2", HOSTS.d2.ip],
      ["d3", HOSTS.d3.ip],
    ]);
    const test = await startRunning(
      api,
      spec({
        targetUrl: `${targetUrl}/ping`,
        driverCount: 3,
        reportIntervalMs: 500,
        workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 10_000 } } },
      }),
    );
    await new Promise((r) => setTimeout(r, 2000));
    ip("link", "set", HOSTS.d3.link, "down");
    const cutAt = Date.now();
    await until(async () => (await api.listDrivers({})).drivers.find((d) => d.id === "d3")?.state === DriverState.MISSING, 10_000, "d3 MISSING");
    const missingAfter = Date.now() - cutAt;
    await until(
      async () => [TestState.COMPLETED, TestState.FAILED].includes((await api.getTest({ testId: test!.id })).test!.state),
      60_000,
      "the test to end",
    );
    const { report } = await api.getReport({ testId: test!.id });
    ip("link", "set", HOSTS.d3.link, "up");
    const restoredAt = Date.now();
    await until(async () => (await api.listDrivers({})).drivers.find((d) => d.id === "d3")?.state === DriverState.READY, 30_000, "d3 READY again");
    process.stderr.write(`multihost: d3 MISSING ${missingAfter} ms after its link was cut; back READY ${Date.now() - restoredAt} ms after it was restored; ${report!.message}\n`);
    // The miss window is 3 heartbeats (3 s); the sweep runs every 250 ms, the heartbeat every 1 s:
    // about 3-4 s on an idle machine. A busy 2-core machine adds seconds to the polling (5.9 s in a
    // full run at a load average near 30), so the bound leaves room for that.
    expect(missingAfter).toBeLessThan(3000 + 1000 + 1000 + 3000);
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.partial).toBe(true);
    expect(report!.message).toMatch(/d3/);
    for (const id of ["d1", "d2"]) expect(report!.drivers.find((d) => d.driverId === id)!.stats!.requests).toBe(1000n);
    expect(Number(report!.drivers.find((d) => d.driverId === "d3")!.stats!.requests)).toBeGreaterThan(100);
  }, 120_000);
});
