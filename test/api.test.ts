import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer } from "../orchestrator/server.js";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { createDriver } from "../driver/agent/driver.js";
import { grpcClient, type OrchestratorClient, rpcError, runToEnd, spec, until } from "./helpers.js";

describe("OrchestratorService over a real server on port 0", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  const ping = () => `${fleet.target!.url}/ping`;
  const small = () =>
    spec({ targetUrl: ping(), workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 5n } } } });

  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 2 });
    client = grpcClient(fleet.server.url);
  });
  afterAll(() => fleet?.close());

  it("CreateTest stores a CREATED test; GetTest and ListTests return it", async () => {
    const { test } = await client.createTest({ spec: small() });
    expect(test!.state).toBe(TestState.CREATED);
    expect(test!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.getTest({ testId: test!.id })).test).toEqual(test);
    const { tests } = await client.listTests({});
    expect(tests[0]!.id).toBe(test!.id);
  });

  it("CreateTest names every bad field at once and stores nothing", async () => {
    const before = (await client.listTests({})).tests.length;
    const err = await rpcError(
      client.createTest({
        spec: spec({ targetUrl: "ftp://example.test/x", reportIntervalMs: 50, workload: { case: "avalanche", value: { concurrency: 0 } } }),
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    for (const field of ["spec.target_url", "spec.report_interval_ms", "spec.avalanche.concurrency", "spec.avalanche.limit"])
      expect(err.rawMessage).toContain(field);
    expect(err.rawMessage).toContain("ftp");
    const cases = [
      [spec({ targetUrl: ping() }), "spec.workload"],
      [spec({ targetUrl: ping(), workload: { case: "tsunami", value: { delayMs: 0, limit: { case: "durationMs", value: 1000 } } } }), "spec.tsunami.delay_ms"],
      [spec({ targetUrl: ping(), workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 0 } } } }), "spec.tsunami.duration_ms"],
      [spec({ targetUrl: "not a url", workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }), "spec.target_url"],
    ] as const;
    for (const [s, field] of cases) {
      const e = await rpcError(client.createTest({ spec: s }));
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.rawMessage).toContain(field);
    }
    expect((await rpcError(client.createTest({}))).code).toBe(Code.InvalidArgument);
    expect((await client.listTests({})).tests.length).toBe(before);
  });

  it("unknown ids are not_found and empty ids invalid_argument, for every test method", async () => {
    const id = "00000000-0000-0000-0000-000000000000";
    for (const call of [
      client.getTest({ testId: id }),
      client.startTest({ testId: id }),
      client.cancelTest({ testId: id }),
      client.getReport({ testId: id }),
    ])
      expect((await rpcError(call)).code).toBe(Code.NotFound);
    const stream = async () => {
      for await (const _ of client.watchTest({ testId: id })) void _;
    };
    expect((await rpcError(stream())).code).toBe(Code.NotFound);
    expect((await rpcError(client.getTest({ testId: "" }))).code).toBe(Code.InvalidArgument);
  });

  it("StartTest with too few ready drivers is failed_precondition and leaves the test CREATED", async () => {
    const s = small();
    s.driverCount = 5;
    const { test } = await client.createTest({ spec: s });
    const err = await rpcError(client.startTest({ testId: test!.id }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("needs 5 ready driver(s); 2 ready");
    expect((await client.getTest({ testId: test!.id })).test!.state).toBe(TestState.CREATED);
  });

  it("starting twice, cancelling an ended test and reporting an unfinished one are failed_precondition", async () => {
    const { test } = await client.createTest({ spec: small() });
    expect((await rpcError(client.getReport({ testId: test!.id }))).code).toBe(Code.FailedPrecondition);
    const started = await client.startTest({ testId: test!.id });
    expect(started.test!.state).toBe(TestState.STARTING);
    expect(started.test!.driverIds).toHaveLength(2);
    expect((await rpcError(client.startTest({ testId: test!.id }))).code).toBe(Code.FailedPrecondition);
    for await (const m of client.watchTest({ testId: test!.id })) if (m.report) break;
    expect((await client.getTest({ testId: test!.id })).test!.state).toBe(TestState.COMPLETED);
    const err = await rpcError(client.cancelTest({ testId: test!.id }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect((await client.getTest({ testId: test!.id })).test!.state).toBe(TestState.COMPLETED);
    expect((await client.getReport({ testId: test!.id })).report!.total!.requests).toBe(10n);
  });

  it("CancelTest ends a CREATED test at once and a running one with its drivers' final metrics", async () => {
    const { test: created } = await client.createTest({ spec: small() });
    expect((await client.cancelTest({ testId: created!.id })).test!.state).toBe(TestState.CANCELLED);
    const { test } = await client.createTest({
      spec: spec({ targetUrl: ping(), workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 30_000 } } } }),
    });
    await client.startTest({ testId: test!.id });
    await until(async () => (await client.getTest({ testId: test!.id })).test!.state === TestState.RUNNING, 5000, "RUNNING");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const { test: cancelled } = await client.cancelTest({ testId: test!.id });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(cancelled!.state).toBe(TestState.CANCELLED);
    const { report } = await client.getReport({ testId: test!.id });
    expect(report!.state).toBe(TestState.CANCELLED);
    expect(report!.total!.requests).toBeGreaterThan(0n);
    expect(report!.drivers.every((d) => d.finished)).toBe(true);
    await until(() => fleet.orchestrator.fleet.ready().length === 2, 5000, "drivers READY again");
  });

  it("ListDrivers and WatchDrivers show the fleet and its changes", async () => {
    const { drivers } = await client.listDrivers({});
    expect(drivers.map((d) => d.id).sort()).toEqual(["driver-1", "driver-2"]);
    expect(drivers.every((d) => d.state === DriverState.READY)).toBe(true);
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const m of client.watchDrivers({}, { signal: abort.signal })) {
        if (!m.changed) expect(m.drivers.length).toBeGreaterThanOrEqual(2);
        else seen.push(`${m.changed.id}:${DriverState[m.changed.state]}`);
        if (seen.includes("driver-x:LEFT")) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const extra = createDriver({ bus: fleet.bus, id: "driver-x", log: () => undefined });
    await extra.start();
    await until(() => seen.includes("driver-x:READY"), 5000, "driver-x READY");
    await extra.stop();
    await watching;
    abort.abort();
    expect(seen).toContain("driver-x:LEFT");
  });

  it("answers Connect JSON (plain HTTP/1.1 POST), Connect binary and gRPC-Web on the same port", async () => {
    const res = await fetch(`${fleet.server.url}/kannon.v1.OrchestratorService/ListDrivers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { drivers: { id: string; state: string }[] };
    expect(json.drivers.some((d) => d.id === "driver-1" && d.state === "DRIVER_STATE_READY")).toBe(true);
    const bad = await fetch(`${fleet.server.url}/kannon.v1.OrchestratorService/GetTest`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ testId: "nope" }),
    });
    expect(bad.status).toBe(404);
    expect(((await bad.json()) as { code: string }).code).toBe("not_found");
    for (const transport of [
      createConnectTransport({ baseUrl: fleet.server.url, httpVersion: "1.1" }),
      createGrpcWebTransport({ baseUrl: fleet.server.url, httpVersion: "1.1" }),
    ]) {
      const c = createClient(OrchestratorService, transport);
      expect((await c.listDrivers({})).drivers.length).toBeGreaterThanOrEqual(2);
    }
  });

  it("WatchTest joined mid-test gets the current state first, then live intervals, then the report", async () => {
    const { test } = await client.createTest({
      spec: spec({ targetUrl: ping(), reportIntervalMs: 200, workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 1600 } } } }),
    });
    await client.startTest({ testId: test!.id });
    await until(async () => (await client.getTest({ testId: test!.id })).test!.state === TestState.RUNNING, 5000, "RUNNING");
    await new Promise((r) => setTimeout(r, 700));
    const messages = [];
    for await (const m of client.watchTest({ testId: test!.id })) messages.push(m);
    const first = messages[0]!;
    expect(first.test!.state).toBe(TestState.RUNNING);
    expect(first.interval).toBeUndefined();
    expect(first.cumulative!.requests).toBeGreaterThan(0n);
    expect(first.drivers.map((d) => d.driverId).sort()).toEqual(["driver-1", "driver-2"]);
    const live = messages.filter((m) => m.interval).map((m) => m.interval!.interval);
    expect(live.length).toBeGreaterThan(0);
    expect(live[0]).toBeGreaterThan(0);
    expect(messages.at(-1)!.report!.state).toBe(TestState.COMPLETED);
  });

  it("WatchTest on a finished test streams its final report and ends", async () => {
    const { id } = await runToEnd(client, small());
    const messages = [];
    for await (const m of client.watchTest({ testId: id })) messages.push(m);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.test!.state).toBe(TestState.COMPLETED);
    expect(messages[0]!.report!.total!.requests).toBe(10n);
  });
});

describe("who may call the API", () => {
  it("without a token: only loopback host names (no DNS rebinding); with a token: only its bearer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-auth-"));
    const bus = createBus(createMemoryTransport());
    const o = await Orchestrator.open({ bus, dataDir: dir, log: () => undefined });
    const post = (port: number, host: string, auth?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          { host: "127.0.0.1", port, method: "POST", path: "/kannon.v1.OrchestratorService/ListDrivers", headers: { host, "content-type": "application/json", ...(auth ? { authorization: auth } : {}) } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end("{}");
      });
    const open = await startServer({ orchestrator: o });
    const locked = await startServer({ orchestrator: o, token: "s3cret" });
    try {
      expect(await post(open.port, `127.0.0.1:${open.port}`)).toBe(200);
      expect(await post(open.port, `localhost:${open.port}`)).toBe(200);
      expect(await post(open.port, `rebind.attacker.example:${open.port}`)).toBe(403);
      expect(await post(locked.port, `127.0.0.1:${locked.port}`)).toBe(401);
      expect(await post(locked.port, `127.0.0.1:${locked.port}`, "Bearer wrong!")).toBe(401);
      expect(await post(locked.port, `any.host.example:${locked.port}`, "Bearer s3cret")).toBe(200);
      await expect(startServer({ orchestrator: o, host: "0.0.0.0" })).rejects.toThrow(/without a token/);
    } finally {
      await open.close();
      await locked.close();
      await o.close();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
