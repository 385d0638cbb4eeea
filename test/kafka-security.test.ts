/**
 * Kafka security against the project's development broker started with an authenticated listener
 * (SASL PLAIN, SCRAM-SHA-256/512 over TLS with a self-signed certificate): the transport connects
 * with the right credentials and CA, and is refused with a clear error otherwise; an orchestrator
 * and a driver started with the CLI's security flags run a test with exact totals. This file
 * starts a broker of its own.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RawRecord } from "../bus/bus.js";
import { createKafkaTransport, type KafkaSasl } from "../bus/kafka.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { startKafka, type KafkaBroker } from "../scripts/kafka-broker.js";
import { grpcClient, runToEnd, spec, targetCounts, until } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const USERS = { orchestrator: "orch-s3cret", driver: "drv-s3cret" };

describe("Kafka with TLS and SASL (development broker, authenticated listener)", () => {
  let base: string;
  let broker: KafkaBroker;
  const procs: KannonProcess[] = [];
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kannon-kafka-sec-"));
    broker = await startKafka({ dataDir: join(base, "broker"), secure: { users: USERS, tls: true }, log: () => {} });
  }, 90_000);
  afterAll(async () => {
    await Promise.allSettled(procs.map((p) => p.stop("SIGTERM", 10_000)));
    await broker?.stop();
    await rm(base, { recursive: true, force: true });
  }, 60_000);

  const open = (sasl: KafkaSasl | undefined, tls: boolean | { ca: string[] } | undefined, log: string[] = []) =>
    createKafkaTransport({
      brokers: [broker.secureBootstrap!],
      topicPrefix: `sec-${Date.now().toString(36)}-`,
      clientId: "security-test",
      log: (m) => log.push(m),
      sasl,
      tls,
    });

  it("PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with the broker's CA: publish and consume", async () => {
    for (const mechanism of ["plain", "scram-sha-256", "scram-sha-512"] as const) {
      const t = await open({ mechanism, username: "driver", password: USERS.driver }, { ca: [broker.caPem!] });
      try {
        const got: string[] = [];
        await t.subscribe(["heartbeat"], { kind: "broadcast", id: `sec-${mechanism}` }, (r: RawRecord) => void got.push(new TextDecoder().decode(r.value)));
        await t.send([{ topic: "heartbeat", key: "k", value: new TextEncoder().encode(mechanism) }]);
        await until(() => got.includes(mechanism), 15_000, `a record over ${mechanism}`);
      } finally {
        await t.close();
      }
    }
  }, 90_000);

  it("a wrong password, no SASL, or no trusted CA is refused with an error that says so", async () => {
    const bad = await open({ mechanism: "scram-sha-256", username: "driver", password: "wrong" }, { ca: [broker.caPem!] }).then(
      async (t) => (await t.close(), "connected"),
      (e: unknown) => String(e),
    );
    expect(bad).toMatch(/could not open the data plane on .*SASL scram-sha-256 as driver/);
    expect(bad).toMatch(/[Aa]uthentication failed|SASL/);
    const untrusted = await open({ mechanism: "plain", username: "driver", password: USERS.driver }, true).then(
      async (t) => (await t.close(), "connected"),
      (e: unknown) => String(e),
    );
    expect(untrusted).toMatch(/could not open the data plane/);
    const anonymous = await open(undefined, { ca: [broker.caPem!] }).then(
      async (t) => (await t.close(), "connected"),
      (e: unknown) => String(e),
    );
    expect(anonymous).toMatch(/could not open the data plane/);
  }, 120_000);

  it("an orchestrator and a driver started with the security flags run a test exactly; the password never shows", async () => {
    const ca = join(base, "ca.pem");
    const pw = join(base, "driver-password");
    await writeFile(ca, broker.caPem!);
    await writeFile(pw, `${USERS.driver}\n`);
    const prefix = `secfleet-${process.pid}-`;
    const common = ["--kafka", broker.secureBootstrap!, "--topic-prefix", prefix, "--kafka-ca-file", ca, "--kafka-sasl-mechanism", "scram-sha-512"];
    const saved = { ...process.env };
    let orch: { proc: KannonProcess; match: RegExpMatchArray };
    try {
      process.env.KANNON_KAFKA_USERNAME = "orchestrator";
      process.env.KANNON_KAFKA_PASSWORD = USERS.orchestrator;
      orch = await startKannon(["orchestrator", ...common, "--data", join(base, "data"), "--port", "0"], /listening on (http:\/\/\S+)/, 60_000);
    } finally {
      process.env = saved;
    }
    procs.push(orch.proc);
    const { proc: driver } = await startKannon(["driver", ...common, "--id", "secure-1", "--kafka-username", "driver", "--kafka-password-file", pw], /joined the fleet/, 60_000);
    procs.push(driver);
    const target = await startKannon(["target", "--port", "0"], /listening on (http:\/\/\S+)/);
    procs.push(target.proc);
    const client = grpcClient(orch.match[1]!);
    await until(async () => (await client.listDrivers({})).drivers.length === 1, 20_000, "the driver registered");
    const before = await targetCounts(target.match[1]!);
    const { id } = await runToEnd(
      client,
      spec({ targetUrl: `${target.match[1]}/ping`, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 500n } } } }),
    );
    const { report } = await client.getReport({ testId: id });
    expect(report!.state).toBe(TestState.COMPLETED);
    expect(report!.total!.requests).toBe(500n);
    expect((await targetCounts(target.match[1]!)).requests - before.requests).toBe(500);
    for (const p of [orch.proc, driver]) {
      expect(p.output()).not.toContain(USERS.orchestrator);
      expect(p.output()).not.toContain(USERS.driver);
    }
  }, 120_000);

  it("the CLI refuses incomplete SASL settings (exit 2)", async () => {
    const err = await startKannon(["driver", "--kafka", broker.secureBootstrap!, "--kafka-sasl-mechanism", "scram-sha-256", "--kafka-username", "driver"], /joined/).then(
      () => "started",
      (e: unknown) => String(e),
    );
    expect(err).toMatch(/exited \(2\)/);
    expect(err).toMatch(/SASL needs a password: KANNON_KAFKA_PASSWORD or --kafka-password-file/);
    const bad = await startKannon(["driver", "--kafka", broker.secureBootstrap!, "--kafka-sasl-mechanism", "gssapi"], /joined/).then(
      () => "started",
      (e: unknown) => String(e),
    );
    expect(bad).toMatch(/--kafka-sasl-mechanism must be one of plain, scram-sha-256, scram-sha-512/);
  }, 30_000);
});
