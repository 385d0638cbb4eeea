/**
 * RPC tests run by a load part (driver/scenario/rpc-steps.ts, iteration.ts) against connect-node's
 * own server (test/rpc-server.ts), whose counts per method and code are the reference: a single RPC
 * test (totals only, no step rows), known shares of failures, server streams, and RPC steps whose
 * request JSON is a template, with checks and captures on the response message.
 */
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { file_kannon_target_v1_target } from "../../gen/kannon/target/v1/target_pb.js";
import { HttpVersion, RpcCodec, RpcProtocol, RpcSchemaSource } from "../../gen/kannon/v1/protocol_pb.js";
import { JsonPathOp } from "../../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { decodeHistogram } from "../../metrics/histogram.js";
import { startRpcServer, type RpcTestServer } from "../../test/rpc-server.js";
import { nowMs } from "../clock.js";
import { InlineLoadPart } from "../load/load.js";
import { mergeSnapshots } from "../load/merge-snapshots.js";
import type { IntervalSnapshot } from "../load/recorder.js";
import { H2FastTransport } from "../transport/h2-fast.js";
import { singleRpcSpec } from "./rpc-steps.js";
import { createScenarioTransport } from "./scenario-load.js";
import { ScenarioRecorder } from "./scenario-recorder.js";
import { newIterationCounter, ScenarioTransport } from "./scenario-transport.js";

type SpecInit = Omit<MessageInitShape<typeof TestSpecSchema>, "$typeName">;

let server: RpcTestServer;
beforeAll(async () => {
  server = await startRpcServer();
});
beforeEach(() => server.reset());
afterAll(() => server.close());

const image = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_kannon_target_v1_target.proto] }));
const SERVICE = "kannon.target.v1.TargetService";

const specOf = (init: SpecInit): TestSpec =>
  create(TestSpecSchema, {
    targetUrl: `${server.url}/`,
    requestTimeoutMs: 5000,
    rpcSchema: { source: RpcSchemaSource.IMAGE, image, origin: "test" },
    ...init,
  });
const closed = (concurrency: number, requests: number): NonNullable<SpecInit["workload"]> => ({
  case: "avalanche",
  value: { concurrency, limit: { case: "requestsPerDriver", value: BigInt(requests) } },
});

/** Runs one inline part to its end; every interval merged. */
async function run(s: TestSpec): Promise<IntervalSnapshot> {
  const part = new InlineLoadPart({ spec: s, share: { index: 0, count: 1, sinceMs: 0, version: 0 }, thread: { index: 0, count: 1 }, driverId: "d1" });
  const intervals: IntervalSnapshot[] = [];
  const taker = setInterval(() => void part.take().then((x) => intervals.push(x)), 100);
  try {
    await part.run(nowMs() + 50);
  } finally {
    clearInterval(taker);
  }
  intervals.push(await part.take());
  part.close();
  return mergeSnapshots(intervals);
}

/** The server's counts of `method` as `code → calls`. */
const served = (method: string) => new Map([...server.counts].filter(([k]) => k.startsWith(`${method} `)).map(([k, n]) => [k.slice(method.length + 1), n]));

describe.each([
  ["connect", RpcProtocol.CONNECT, RpcCodec.PROTO, "http/1.1"],
  ["grpc-web", RpcProtocol.GRPC_WEB, RpcCodec.JSON, "http/1.1"],
  ["grpc", RpcProtocol.GRPC, RpcCodec.PROTO, "h2"],
  ["connect", RpcProtocol.CONNECT, RpcCodec.JSON, "h2"],
] as const)("a single RPC test over %s, codec %i, on %s", (_name, protocol, codec, carried) => {
  const rpc = (init: { method: string; requestJson: string; timeoutMs?: number }) => ({ service: SERVICE, protocol, codec, ...init });
  const spec = (init: SpecInit) => specOf({ ...init, http: { version: carried === "h2" ? HttpVersion.HTTP_VERSION_2 : HttpVersion.HTTP_VERSION_1_1 } });

  it("counts every call under its code, as the server counted them, with no step rows", async () => {
    const total = await run(spec({ rpc: rpc({ method: "Fail", requestJson: '{"code": "unavailable", "every": 4}' }), headers: { "x-from": "kannon" }, workload: closed(4, 200) }));
    expect(served("Fail")).toEqual(new Map([["unavailable", 50], ["ok", 150]]));
    expect(total.requests).toBe(200);
    expect(total.codeCounts).toEqual(new Map([["ok", 150], ["unavailable", 50]]));
    expect(total.errorCounts).toEqual(new Map([["rpc_unavailable", 50]]));
    expect(total.statusCounts.size).toBe(0);
    expect(total.protocolCounts).toEqual(new Map([[carried, 200]]));
    expect(decodeHistogram(total.failedLatencyHistogram).totalCount).toBe(50);
    expect(total.steps ?? []).toEqual([]);
    expect(total.scenarios ?? []).toEqual([]);
    expect(total.messagesReceived).toBe(0);
  });

  it("a server stream counts its messages and each call's first message", async () => {
    const total = await run(spec({ rpc: rpc({ method: "Stream", requestJson: '{"count": 4, "messageBytes": 10}' }), workload: closed(3, 30) }));
    expect(served("Stream")).toEqual(new Map([["ok", 30]]));
    expect(total.codeCounts).toEqual(new Map([["ok", 30]]));
    expect(total.messagesReceived).toBe(120);
    expect(decodeHistogram(total.firstMessageHistogram).totalCount).toBe(30);
  });

  it("the call's deadline: a server slower than Rpc.timeout_ms ends deadline_exceeded", async () => {
    const total = await run(spec({ rpc: rpc({ method: "Echo", requestJson: '{"delayMs": 2000}', timeoutMs: 200 }), workload: closed(2, 4) }));
    expect(total.codeCounts).toEqual(new Map([["deadline_exceeded", 4]]));
    expect(total.errorCounts).toEqual(new Map([["rpc_deadline_exceeded", 4]]));
    // The server ends each call at the same deadline (its count comes a moment after the client's).
    await expect.poll(() => served("Echo").get("deadline_exceeded")).toBe(4);
  });
});

it("a constant unary gRPC call on h2c or TLS runs on the HTTP/2 fast path; a template, a stream, Connect or a handshake per request through the exchange", async () => {
  const transportOf = (method: string, requestJson: string, protocol = RpcProtocol.GRPC, over: SpecInit = {}) =>
    createScenarioTransport({
      spec: singleRpcSpec(specOf({ rpc: { service: SERVICE, method, requestJson, protocol }, http: { version: HttpVersion.HTTP_VERSION_2 }, workload: closed(1, 1), ...over })),
      recorder: new ScenarioRecorder(false, { steps: [[]], scenarios: 1 }),
      data: new Map(),
      thread: { index: 0, count: 1 },
      counter: newIterationCounter(),
      driverId: "d1",
      kind: undefined,
      timeoutMs: 1000,
      concurrency: 1,
      pipelining: 1,
      scheduled: false,
      ended: () => undefined,
      exhausted: () => undefined,
    });
  const tls = (handshakePerRequest: boolean): SpecInit => ({ targetUrl: "https://127.0.0.1:1/", http: { version: HttpVersion.HTTP_VERSION_2, tls: { insecure: true, handshakePerRequest } } });
  const kinds = [
    transportOf("Echo", '{"text": "x"}'),
    transportOf("Echo", '{"text": "{{iteration}}"}'),
    transportOf("Stream", '{"count": 1}'),
    transportOf("Echo", "{}", RpcProtocol.CONNECT),
    transportOf("Echo", '{"text": "x"}', RpcProtocol.GRPC, tls(false)),
    transportOf("Echo", '{"text": "x"}', RpcProtocol.GRPC, tls(true)),
  ];
  expect(kinds.map((t) => t.constructor)).toEqual([H2FastTransport, ScenarioTransport, ScenarioTransport, ScenarioTransport, H2FastTransport, ScenarioTransport]);
  for (const t of kinds) await t.close(true);
});

describe("RPC steps in a scenario", () => {
  const spec = specOf;
  it("render their request JSON per iteration; checks and captures read the response message", async () => {
    const echo = (text: string) => ({ service: SERVICE, method: "Echo", protocol: RpcProtocol.CONNECT, codec: RpcCodec.PROTO, requestJson: `{"text": "${text}"}` });
    const total = await run(
      spec({
        workload: closed(2, 20),
        scenarios: [
          {
            name: "echo-twice",
            weight: 1,
            steps: [
              { name: "first", rpc: echo("n{{iteration}}"), captures: [{ name: "said", source: { case: "jsonPath", value: "$.text" } }] },
              {
                name: "second",
                url: server.url,
                rpc: { ...echo("{{said}}-again"), protocol: RpcProtocol.GRPC_WEB },
                checks: [
                  { name: "echoed", kind: { case: "jsonPath", value: { path: "$.text", op: JsonPathOp.MATCHES, value: "^n[0-9]+-again$" } } },
                  { name: "first-call", kind: { case: "jsonPath", value: { path: "$.call", op: JsonPathOp.EQUALS, value: "1" } } },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(served("Echo")).toEqual(new Map([["ok", 40]]));
    expect(total.codeCounts).toEqual(new Map([["ok", 40]]));
    const second = total.steps!.find((s) => s.stepIndex === 1)!;
    expect(second.counts.codeCounts).toEqual(new Map([["ok", 20]]));
    expect(second.captureMissing).toBe(0);
    // Every second call echoed its first's capture; only the method's first call overall is call 1.
    expect(second.checks).toEqual([
      { name: "echoed", passed: 20, failed: 0 },
      { name: "first-call", passed: 0, failed: 20 },
    ]);
    expect(total.steps!.find((s) => s.stepIndex === 0)!.captureMissing).toBe(0);
  });

  it("a rendered request JSON that does not fit its message is counted, not sent", async () => {
    const total = await run(
      spec({
        workload: closed(1, 5),
        scenarios: [{ name: "s", weight: 1, steps: [{ name: "bad", rpc: { service: SERVICE, method: "Echo", requestJson: '{"delayMs": "{{iteration}}x"}' } }] }],
      }),
    );
    expect(served("Echo")).toEqual(new Map());
    expect(total.errorCounts).toEqual(new Map([["invalid_rpc_request", 5]]));
  });
});
