/**
 * The private key of a test's client certificate (mutual TLS) is held apart from the test: the
 * spec the orchestrator stores and serves (GetTest, ListTests, the report and its exports) has no
 * key, the drivers' test_config has it, also after an orchestrator restart between CreateTest and
 * StartTest.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import type { TestConfigMessage } from "../gen/kannon/v1/bus_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { heartbeat, metrics, registerAll } from "../test/fake-fleet.js";
import { spec, until } from "../test/helpers.js";
import { createTlsFixtures, type TlsFixtures } from "../test/tls-fixtures.js";
import { reportHtml, reportJson } from "../web/exports.js";
import { Orchestrator } from "./orchestrator.js";

let certs: TlsFixtures;
let dir: string;
beforeAll(async () => {
  certs = await createTlsFixtures();
  dir = await mkdtemp(join(tmpdir(), "kannon-tls-key-"));
});
afterAll(async () => {
  await certs.cleanup();
  await rm(dir, { recursive: true, force: true });
});

it("stores and serves the spec without the client key, sends the key to the drivers, also after a restart", async () => {
  const transport = createMemoryTransport();
  const open = () => Orchestrator.open({ bus: createBus(transport, { log: () => {} }), dataDir: dir, log: () => {} });
  let o = await open();
  const created = o.createTest(
    spec({
      targetUrl: "https://127.0.0.1:9/",
      http: { tls: { caPem: certs.ca.cert, certPem: certs.client.cert, keyPem: certs.client.key } },
      workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } },
    }),
  );
  expect(created.spec!.http!.tls!.keyPem).toBe("");
  expect(o.getTest(created.id).spec!.http!.tls!.keyPem).toBe("");
  expect(o.getTest(created.id).spec!.http!.tls!.certPem).toBe(certs.client.cert);
  expect(o.listTests().items.map((t) => t.spec!.http!.tls!.keyPem)).toEqual([""]);
  await o.close();

  o = await open();
  try {
    const configs: TestConfigMessage[] = [];
    const observer = createBus(transport, { log: () => {} });
    await observer.subscribe({ kind: "broadcast", id: "observer" }, { test_config: (m) => void configs.push(m) });
    await registerAll(transport, ["d1"]);
    await transport.send([heartbeat("d1")]);
    await until(() => o.fleet.ready().length === 1, 5000, "d1 to be READY");
    const test = await o.startTest(created.id);
    await until(() => configs.length === 1, 5000, "the test_config");
    expect(configs[0]!.spec!.http!.tls!.keyPem).toBe(certs.client.key);
    expect(test.spec!.http!.tls!.keyPem).toBe("");

    const startMs = msOf(test.startAt!);
    await transport.send([metrics(test.id, "d1", 0, startMs, 500, true)]);
    await until(() => o.getTest(test.id).state === TestState.COMPLETED, 10_000, "the test to end");
    const report = o.getReport(test.id);
    expect(report.spec!.http!.tls!.certPem).toBe(certs.client.cert);
    const keyLine = certs.client.key.split("\n")[1]!;
    expect(keyLine.length).toBeGreaterThan(20);
    for (const exported of [reportJson(report), reportHtml(report, [])]) expect(exported).not.toContain(keyLine);
    await observer.close();
  } finally {
    await o.close();
    await transport.close();
  }
});
