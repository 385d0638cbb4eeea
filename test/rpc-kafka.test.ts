/**
 * Issue 23's "Done when" for RPCs, over a real Kafka broker: the orchestrator, two driver processes
 * and the project's target (kannon.target.v1.TargetService) each an OS process. The ground truth is
 * the target's own count of calls per method and code (GET /metrics: rpc), reset before each case.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { HttpVersion, RpcCodec, RpcProtocol, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { findMethod, registryFromImage } from "../rpc/schema.js";
import { closedPort, rpcError, runToEnd, spec } from "./helpers.js";
import { targetImage } from "./rpc-images.js";
import { countsOf, numbers, resetCounts, startKafkaFleet, type KafkaFleet } from "./kafka-processes.js";

const SERVICE = "kannon.target.v1.TargetService";
const DRIVERS = 2;

type SpecInit = Omit<MessageInitShape<typeof TestSpecSchema>, "$typeName">;
type RpcInit = { method: string; requestJson?: string; protocol?: RpcProtocol; codec?: RpcCodec };


describe("RPCs over a real Kafka broker with driver processes, against the project's Connect target", () => {
  const kafka = inject("kafkaBootstrap");
  let fleet: KafkaFleet;
  let targetUrl: string;
  let image: Uint8Array;

  beforeAll(async () => {
    image = targetImage();
    fleet = await startKafkaFleet(kafka, `rpc-${process.pid}-`, DRIVERS);
    targetUrl = await fleet.target();
  }, 120_000);
  afterAll(() => fleet?.stop());

  /** A test of one RPC at the target, `perDriver` calls per driver, `concurrency` at a time. */
  const rpcSpec = (rpc: RpcInit, perDriver: number, concurrency: number, more: SpecInit = {}) =>
    spec({
      targetUrl: `${targetUrl}/`,
      reportIntervalMs: 250,
      requestTimeoutMs: 5000,
      rpc: { service: SERVICE, ...rpc },
      rpcSchema: { source: RpcSchemaSource.IMAGE, image, origin: "buf build proto/kannon/target/v1/target.proto" },
      workload: { case: "avalanche", value: { concurrency, limit: { case: "requestsPerDriver", value: BigInt(perDriver) } } },
      ...more,
    });

  /** Runs a test to its end on the whole fleet; its report, and the target's RPC counts of it. */
  async function run(s: ReturnType<typeof spec>): Promise<{ report: Report; total: Stats; rpc: Record<string, Record<string, number>>; requests: number }> {
    await resetCounts(targetUrl);
    const { id } = await runToEnd(fleet.client, s);
    const { report } = await fleet.client.getReport({ testId: id });
    const counts = await countsOf(targetUrl);
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    expect(report!.partial, report!.drivers.map((d) => d.message).join(" / ")).toBe(false);
    expect(report!.drivers.map((d) => d.driverId).sort()).toEqual(fleet.driverIds);
    return { report: report!, total: report!.total!, rpc: counts.rpc, requests: counts.requests };
  }

  describe.each([
    ["Connect", "HTTP/1.1", RpcProtocol.CONNECT, RpcCodec.PROTO, HttpVersion.HTTP_VERSION_1_1, "http/1.1"],
    ["Connect", "h2c", RpcProtocol.CONNECT, RpcCodec.JSON, HttpVersion.HTTP_VERSION_2, "h2"],
    ["gRPC", "h2c", RpcProtocol.GRPC, RpcCodec.PROTO, HttpVersion.HTTP_VERSION_2, "h2"],
    ["gRPC-Web", "HTTP/1.1", RpcProtocol.GRPC_WEB, RpcCodec.JSON, HttpVersion.HTTP_VERSION_1_1, "http/1.1"],
  ] as const)("%s over %s (schema: a Buf image)", (_name, _http, protocol, codec, version, wire) => {
    const http = { version };

    it("unary Echo: the report's totals equal the target's count of Echo calls, all ok", async () => {
      const { report, total, rpc, requests } = await run(
        rpcSpec({ method: "Echo", requestJson: '{"text": "hello", "responseBytes": 32}', protocol, codec }, 40, 3, { http }),
      );
      expect(rpc).toEqual({ [`${SERVICE}/Echo`]: { ok: 40 * DRIVERS } });
      expect(requests).toBe(40 * DRIVERS);
      expect(total.requests).toBe(BigInt(40 * DRIVERS));
      expect(numbers(total.codeCounts)).toEqual({ ok: 40 * DRIVERS });
      expect(numbers(total.protocolCounts)).toEqual({ [wire]: 40 * DRIVERS });
      expect(total.errors).toBe(0n);
      expect(numbers(total.errorCounts)).toEqual({});
      expect(numbers(total.statusCounts)).toEqual({});
      expect(total.messagesReceived).toBe(0n);
      for (const d of report.drivers) expect(d.stats!.requests, d.driverId).toBe(40n);
    });

    it("server-streaming Stream: calls as the target counted them, messages_received = calls × count", async () => {
      const { total, rpc } = await run(rpcSpec({ method: "Stream", requestJson: '{"count": 5, "intervalMs": 2, "messageBytes": 8}', protocol, codec }, 12, 2, { http }));
      expect(rpc).toEqual({ [`${SERVICE}/Stream`]: { ok: 12 * DRIVERS } });
      expect(total.requests).toBe(BigInt(12 * DRIVERS));
      expect(numbers(total.codeCounts)).toEqual({ ok: 12 * DRIVERS });
      expect(numbers(total.protocolCounts)).toEqual({ [wire]: 12 * DRIVERS });
      expect(total.messagesReceived).toBe(BigInt(12 * DRIVERS * 5));
      expect(total.firstMessage?.count).toBe(BigInt(12 * DRIVERS));
      // Each call lasts at least its 4 intervals of 2 ms; its first message comes before its end.
      expect(total.latency!.minUs).toBeGreaterThanOrEqual(8_000);
      expect(total.firstMessage!.p50Us).toBeLessThanOrEqual(total.latency!.p50Us);
      expect(total.errors).toBe(0n);
    });
  });

  it.each([
    ["unavailable", 4, RpcProtocol.CONNECT, HttpVersion.HTTP_VERSION_1_1],
    ["resource_exhausted", 5, RpcProtocol.GRPC, HttpVersion.HTTP_VERSION_2],
  ] as const)("Fail with code %s every %i-th call: counted exactly by code and error kind, and judged by thresholds on that code", async (code, every, protocol, version) => {
    const calls = 100 * DRIVERS;
    const failed = calls / every;
    const share = 100 / every;
    const thresholds = [`error_rate{code:${code}}<${share + 5}%`, `error_rate{code:${code}}<${share - 5}%`, `errors{code:${code}}<=${failed}`, `requests{code:ok}>=${calls - failed}`];
    const { report, total, rpc } = await run(
      rpcSpec({ method: "Fail", requestJson: JSON.stringify({ code, every, message: "planned" }), protocol }, 100, 4, { http: { version }, thresholds }),
    );
    expect(rpc).toEqual({ [`${SERVICE}/Fail`]: { ok: calls - failed, [code]: failed } });
    expect(total.requests).toBe(BigInt(calls));
    expect(numbers(total.codeCounts)).toEqual({ ok: calls - failed, [code]: failed });
    expect(numbers(total.errorCounts)).toEqual({ [`rpc_${code}`]: failed });
    expect(total.errors).toBe(BigInt(failed));
    expect(numbers(total.statusCounts)).toEqual({});
    expect(total.failedLatency?.count).toBe(BigInt(failed));
    const judged = report.outcome!.thresholds;
    expect(judged.map((t) => [t.threshold, t.passed])).toEqual([
      [thresholds[0], true],
      [thresholds[1], false],
      [thresholds[2], true],
      [thresholds[3], true],
    ]);
    expect(judged[0]!.measured).toBeCloseTo(1 / every, 9);
    expect(judged[2]!.measured).toBe(failed);
  });

  it("RPC steps (Step.rpc) over gRPC on h2c: a templated Echo whose answer the next step's Stream request reads; per-step codes and messages", async () => {
    const perDriver = 8;
    const { total, rpc } = await run(
      rpcSpec({ method: "Echo" }, perDriver, 2, {
        rpc: undefined,
        http: { version: HttpVersion.HTTP_VERSION_2 },
        scenarios: [
          {
            name: "echo-then-stream",
            weight: 1,
            steps: [
              {
                name: "echo",
                rpc: { service: SERVICE, method: "Echo", requestJson: '{"text": "{{iteration}}"}', protocol: RpcProtocol.GRPC },
                captures: [{ name: "n", source: { case: "jsonPath", value: "$.text" } }],
              },
              { name: "stream", rpc: { service: SERVICE, method: "Stream", requestJson: '{"count": {{n}}}', protocol: RpcProtocol.GRPC } },
            ],
          },
        ],
      }),
    );
    const iterations = perDriver * DRIVERS;
    expect(rpc).toEqual({ [`${SERVICE}/Echo`]: { ok: iterations }, [`${SERVICE}/Stream`]: { ok: iterations } });
    expect(total.requests).toBe(BigInt(2 * iterations));
    const [echo, stream] = total.steps;
    expect([echo!.step, stream!.step]).toEqual(["echo", "stream"]);
    expect(numbers(echo!.stats!.codeCounts)).toEqual({ ok: iterations });
    expect(numbers(stream!.stats!.codeCounts)).toEqual({ ok: iterations });
    expect(echo!.captureMissing).toBe(0n);
    // Each driver's iterations are numbered 0..perDriver-1: iteration i streams i messages.
    expect(Number(stream!.stats!.messagesReceived)).toBe(DRIVERS * ((perDriver - 1) * perDriver) / 2);
    expect(Number(total.messagesReceived)).toBe(DRIVERS * ((perDriver - 1) * perDriver) / 2);
    expect(numbers(total.protocolCounts)).toEqual({ h2: 2 * iterations });
  });

  it("the schema from the target's reflection: fetched once by the orchestrator at CreateTest and stored, drivers never ask", async () => {
    const s = rpcSpec({ method: "Echo", requestJson: '{"text": "reflected"}', protocol: RpcProtocol.GRPC }, 30, 2, {
      http: { version: HttpVersion.HTTP_VERSION_2 },
      rpcSchema: { source: RpcSchemaSource.REFLECTION },
    });
    await resetCounts(targetUrl);
    const { test } = await fleet.client.createTest({ spec: s });
    const stored = test!.spec!.rpcSchema!;
    expect(stored.source).toBe(RpcSchemaSource.REFLECTION);
    expect(stored.image.length).toBeGreaterThan(0);
    expect(typeof findMethod(registryFromImage(stored.image), SERVICE, "Stream")).not.toBe("string");
    // Reflection is uncounted by the target: nothing so far.
    expect((await countsOf(targetUrl)).requests).toBe(0);
    await fleet.client.startTest({ testId: test!.id });
    for await (const m of fleet.client.watchTest({ testId: test!.id }, { timeoutMs: 60_000 })) void m;
    const { report } = await fleet.client.getReport({ testId: test!.id });
    const counts = await countsOf(targetUrl);
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    expect(counts.rpc).toEqual({ [`${SERVICE}/Echo`]: { ok: 30 * DRIVERS } });
    expect(counts.requests).toBe(30 * DRIVERS);
    expect(numbers(report!.total!.codeCounts)).toEqual({ ok: 30 * DRIVERS });
    expect(numbers(report!.total!.protocolCounts)).toEqual({ h2: 30 * DRIVERS });
  });

  describe("bad input at CreateTest: refused naming the problem, nothing stored, nothing sent", () => {
    const refused = async (s: ReturnType<typeof spec>, code: Code) => {
      const before = (await fleet.client.listTests({})).tests.length;
      await resetCounts(targetUrl);
      const err = await rpcError(fleet.client.createTest({ spec: s }));
      expect(err.code, err.message).toBe(code);
      expect((await fleet.client.listTests({})).tests.length).toBe(before);
      expect((await countsOf(targetUrl)).requests).toBe(0);
      return err;
    };

    it("an unknown method and an unknown service, every problem at once (invalid_argument)", async () => {
      const err = await refused(rpcSpec({ method: "Echoo" }, 1, 1), Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/Echoo/);
      expect(err.rawMessage).toMatch(/Echo\b/); // the methods it has
      const both = await refused(
        rpcSpec({ method: "Echo", protocol: RpcProtocol.GRPC }, 1, 1, { rpc: { service: "kannon.target.v1.Nope", method: "Echo", protocol: RpcProtocol.GRPC } }),
        Code.InvalidArgument,
      );
      expect(both.rawMessage).toMatch(/kannon\.target\.v1\.Nope/);
      expect(both.rawMessage).toMatch(/HTTP\/2/); // gRPC without http.version 2, in the same answer
    });

    it("request JSON that does not fit the message: each field path named (invalid_argument)", async () => {
      const err = await refused(rpcSpec({ method: "Stream", requestJson: '{"count": "many", "intervalMs": 1, "colour": "red"}' }, 1, 1), Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/request_json count: .*"many"/);
      expect(err.rawMessage).toMatch(/request_json colour: .*no such field/);
      expect(err.rawMessage).not.toMatch(/request_json interval/); // the field that fits is not named
    });

    it("a reflection that cannot be fetched: failed_precondition naming the URL", async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const err = await refused(
        rpcSpec({ method: "Echo" }, 1, 1, { targetUrl: `${url}/`, rpcSchema: { source: RpcSchemaSource.REFLECTION } }),
        Code.FailedPrecondition,
      );
      expect(err.rawMessage).toContain(url);
      expect(ConnectError.from(err).code).toBe(Code.FailedPrecondition);
    });
  });
});
