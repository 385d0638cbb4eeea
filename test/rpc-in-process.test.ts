/**
 * RPC tests over the in-process bus: 3 drivers, the orchestrator and the project's target
 * (kannon.target.v1.TargetService) in this process (test/rpc-kafka.test.ts runs them over a real
 * broker with driver processes). The ground truth is the target's own count per method and code.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { HttpVersion, RpcCodec, RpcProtocol, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import type { Report } from "../gen/kannon/v1/report_pb.js";
import { JsonPathOp } from "../gen/kannon/v1/scenario_pb.js";
import { TestState, type TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, runToEnd, spec } from "./helpers.js";
import { targetImage } from "./rpc-images.js";

const SERVICE = "kannon.target.v1.TargetService";
const DRIVERS = 3;
type SpecInit = Omit<MessageInitShape<typeof TestSpecSchema>, "$typeName">;

/** bigint counts as numbers. */
const numbers = (m: { [k: string]: bigint }) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));

describe("RPCs over the in-process bus, against the project's Connect target", () => {
  let embedded: Embedded;
  let client: ReturnType<typeof grpcClient>;
  let targetUrl: string;
  const image = targetImage();

  beforeAll(async () => {
    embedded = await startEmbedded({ drivers: DRIVERS });
    client = grpcClient(embedded.server.url);
    targetUrl = embedded.target!.url;
  });
  afterAll(() => embedded?.close());
  beforeEach(() => embedded.target!.reset());

  const rpcSpec = (init: SpecInit, perDriver: number, concurrency: number) =>
    spec({
      targetUrl: `${targetUrl}/`,
      reportIntervalMs: 200,
      requestTimeoutMs: 5000,
      rpcSchema: { source: RpcSchemaSource.IMAGE, image, origin: "buf build proto/kannon/target/v1/target.proto" },
      workload: { case: "avalanche", value: { concurrency, limit: { case: "requestsPerDriver", value: BigInt(perDriver) } } },
      ...init,
    });

  async function run(s: ReturnType<typeof spec>): Promise<Report> {
    const { id } = await runToEnd(client, s);
    const { report } = await client.getReport({ testId: id });
    expect(report!.state, report!.message).toBe(TestState.COMPLETED);
    expect(report!.partial).toBe(false);
    return report!;
  }

  it.each([
    ["gRPC on h2c (the fast path)", RpcProtocol.GRPC, RpcCodec.PROTO, HttpVersion.HTTP_VERSION_2, "h2"],
    ["Connect on HTTP/1.1", RpcProtocol.CONNECT, RpcCodec.JSON, HttpVersion.HTTP_VERSION_1_1, "http/1.1"],
    ["gRPC-Web on h2c", RpcProtocol.GRPC_WEB, RpcCodec.PROTO, HttpVersion.HTTP_VERSION_2, "h2"],
  ] as const)("a single RPC, Fail every 5th call, %s: codes as the target counted them", async (_name, protocol, codec, version, wire) => {
    const calls = 50 * DRIVERS;
    const report = await run(
      rpcSpec({ rpc: { service: SERVICE, method: "Fail", requestJson: '{"code": "unavailable", "every": 5}', protocol, codec }, http: { version } }, 50, 4),
    );
    const counts = await embedded.target!.counts();
    expect(counts.rpc).toEqual({ [`${SERVICE}/Fail`]: { ok: calls - calls / 5, unavailable: calls / 5 } });
    const total = report.total!;
    expect(total.requests).toBe(BigInt(calls));
    expect(numbers(total.codeCounts)).toEqual({ ok: calls - calls / 5, unavailable: calls / 5 });
    expect(numbers(total.errorCounts)).toEqual({ rpc_unavailable: calls / 5 });
    expect(numbers(total.protocolCounts)).toEqual({ [wire]: calls });
    expect(numbers(total.statusCounts)).toEqual({});
    // A single RPC has no per-step rows, as a plain test.
    expect(total.steps).toEqual([]);
    expect(total.scenarios).toEqual([]);
  });

  it("RPC steps: a templated Echo whose answer a later Stream step's request reads; per-step codes, messages and checks", async () => {
    const report = await run(
      rpcSpec(
        {
          scenarios: [
            {
              name: "echo-then-stream",
              weight: 1,
              steps: [
                {
                  name: "echo",
                  rpc: { service: SERVICE, method: "Echo", requestJson: '{"text": "{{iteration}}"}', protocol: RpcProtocol.CONNECT },
                  captures: [{ name: "n", source: { case: "jsonPath", value: "$.text" } }],
                },
                {
                  name: "stream",
                  rpc: { service: SERVICE, method: "Stream", requestJson: '{"count": {{n}}, "messageBytes": 1}', protocol: RpcProtocol.GRPC_WEB, codec: RpcCodec.JSON },
                  checks: [{ name: "first-message", kind: { case: "jsonPath", value: { path: "$.padding", op: JsonPathOp.EXISTS } } }],
                },
              ],
            },
          ],
        },
        10,
        2,
      ),
    );
    const counts = await embedded.target!.counts();
    const iterations = 10 * DRIVERS;
    expect(counts.rpc).toEqual({ [`${SERVICE}/Echo`]: { ok: iterations }, [`${SERVICE}/Stream`]: { ok: iterations } });
    const [echo, stream] = report.total!.steps;
    expect(numbers(echo!.stats!.codeCounts)).toEqual({ ok: iterations });
    expect(numbers(stream!.stats!.codeCounts)).toEqual({ ok: iterations });
    // Iteration i streams i messages ({{iteration}} numbers the fleet's iterations 0..29 once each per driver: 0..9 on each).
    expect(Number(stream!.stats!.messagesReceived)).toBe(DRIVERS * ((9 * 10) / 2));
    // Iteration 0 of each driver streams nothing: its check finds no message.
    expect(stream!.checks.map((c) => [c.name, Number(c.passed), Number(c.failed)])).toEqual([["first-message", iterations - DRIVERS, DRIVERS]]);
    expect(Number(report.total!.requests)).toBe(2 * iterations);
  });
});
