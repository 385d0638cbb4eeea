import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { HttpVersion, RpcProtocol, RpcSchemaSchema, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { checkSpec, describeProblems } from "../orchestrator/validate.js";
import { compileScenarios } from "../scenario/compile.js";
import { targetImage } from "../test/rpc-images.js";
import { MAX_SCHEMA_BYTES } from "./check.js";

type SpecInit = MessageInitShape<typeof TestSpecSchema>;
const SERVICE = "kannon.target.v1.TargetService";

/** The target's image plus grpc.reflection.v1 (a bidi method) and a copy of TargetService whose Echo streams from the client. */
function richImage(): Uint8Array {
  const set = fromBinary(FileDescriptorSetSchema, targetImage());
  const target = set.file[0]!;
  const upload = structuredClone(target.service[0]!);
  upload.name = "UploadService";
  upload.method[0]!.clientStreaming = true;
  target.service.push(upload);
  set.file.push(file_grpc_reflection_v1_reflection.proto);
  return toBinary(FileDescriptorSetSchema, set);
}

const image = { source: RpcSchemaSource.IMAGE, image: targetImage(), origin: "proto/kannon/target/v1/target.proto" };

function rpcSpec(init: SpecInit) {
  return create(TestSpecSchema, {
    targetUrl: "http://127.0.0.1:8080/",
    workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 1000 } } },
    rpcSchema: image,
    ...init,
  } as SpecInit);
}

const step = (name: string, rpc: SpecInit["rpc"], more: object = {}) => ({ name, rpc, ...more });
const scenario = (...steps: object[]) => ({ scenarios: [{ name: "s", weight: 1, steps }] }) as SpecInit;

describe("RPC validation (checkSpec)", () => {
  it("accepts a unary and a server-streaming RPC, as the test's request and as steps (a step's url may be empty)", () => {
    expect(checkSpec(rpcSpec({ rpc: { service: SERVICE, method: "Echo", requestJson: '{"text": "hi", "delayMs": 1}' }, headers: { authorization: "Bearer x" } })).problems).toEqual([]);
    const steps = rpcSpec(
      scenario(
        step("echo", { service: SERVICE, method: "Echo", requestJson: '{"text": "{{uuid}}"}' }, { captures: [{ name: "t", source: { case: "jsonPath", value: "$.text" } }] }),
        step("stream", { service: SERVICE, method: "Stream", protocol: RpcProtocol.GRPC, requestJson: '{"count": {{randInt 1 5}}, "intervalMs": "{{t}}"}' }, { url: "http://127.0.0.1:9000" }),
      ),
    );
    steps.http = { $typeName: "kannon.v1.HttpOptions", version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 0, connections: 0 };
    expect(checkSpec(steps).problems).toEqual([]);
    const compiled = compileScenarios(steps, () => undefined).scenarios[0]!.steps;
    expect(compiled.map((s) => [s.rpc?.method?.name, s.rpc?.method?.methodKind, s.rpc?.json.slots.length])).toEqual([
      ["Echo", "unary", 1],
      ["Stream", "server_streaming", 2],
    ]);
  });

  it("names every problem of the test's RPC at once", () => {
    const problems = checkSpec(
      rpcSpec({
        method: "PUT",
        body: new TextEncoder().encode("x"),
        rpc: { service: SERVICE, method: "Echo", protocol: RpcProtocol.GRPC, requestJson: '{"text": 5, "delay": 1}' },
      }),
    ).problems;
    expect(problems).toEqual([
      { field: "spec.method", problem: "must be empty when the request is an RPC (spec.rpc): RPCs are POSTs" },
      { field: "spec.body", problem: "must be empty when the request is an RPC (spec.rpc): the message is spec.rpc.request_json" },
      { field: "spec.rpc.protocol", problem: "grpc needs HTTP/2: set spec.http.version to HTTP_VERSION_2 (--http2), or use connect or grpc-web" },
      { field: "spec.rpc.request_json", problem: "text: expected string, got 5" },
      { field: "spec.rpc.request_json", problem: "delay: kannon.target.v1.EchoRequest has no such field (it has text, delayMs, responseBytes)" },
    ]);
  });

  it("names unknown services and methods and refuses client- and bidi-streaming methods", () => {
    const rich = create(RpcSchemaSchema, { source: RpcSchemaSource.IMAGE, image: richImage() });
    const spec = rpcSpec({
      rpcSchema: rich,
      ...scenario(
        step("a", { service: "acme.Nope", method: "Echo" }),
        step("b", { service: SERVICE, method: "Echoo" }),
        step("c", { service: `${SERVICE.replace("TargetService", "UploadService")}`, method: "Echo" }),
        step("d", { service: "grpc.reflection.v1.ServerReflection", method: "ServerReflectionInfo" }),
        step("e", { service: "", method: "" }),
      ),
    });
    expect(describeProblems(checkSpec(spec).problems).split("; ")).toEqual([
      'spec.scenarios[0].steps[0].rpc service "acme.Nope" is not in the schema (it has grpc.reflection.v1.ServerReflection, kannon.target.v1.TargetService, kannon.target.v1.UploadService)',
      'spec.scenarios[0].steps[1].rpc service "kannon.target.v1.TargetService" has no method "Echoo" (it has Echo, Stream, Fail)',
      "spec.scenarios[0].steps[2].rpc.method kannon.target.v1.UploadService/Echo is client-streaming: only unary and server-streaming methods can be loaded",
      "spec.scenarios[0].steps[3].rpc.method grpc.reflection.v1.ServerReflection/ServerReflectionInfo is bidi-streaming: only unary and server-streaming methods can be loaded",
      "spec.scenarios[0].steps[4].rpc service is required (fully qualified, e.g. kannon.target.v1.TargetService)",
    ]);
  });

  it("names a step's RPC with method or body, its template and JSON problems, beside its other problems", () => {
    const problems = checkSpec(
      rpcSpec(
        scenario(
          step("a", { service: SERVICE, method: "Echo", requestJson: '{"text": "{{nope}}"}' }, { method: "GET", body: "x" }),
          step("b", { service: SERVICE, method: "Stream", requestJson: '{"count": "{{uuid}}", "intervalMs": [1]}' }, { checks: [{ name: "" }] }),
        ),
      ),
    ).problems;
    expect(problems).toEqual([
      { field: "spec.scenarios[0].steps[0].method", problem: "must be empty when the step is an RPC (rpc): RPCs are POSTs" },
      { field: "spec.scenarios[0].steps[0].body", problem: "must be empty when the step is an RPC (rpc): the message is rpc.request_json" },
      { field: "spec.scenarios[0].steps[0].rpc.request_json", problem: expect.stringMatching(/^\{\{nope\}\} at character 10: unknown name "nope"/) },
      { field: "spec.scenarios[0].steps[1].checks[0].name", problem: "is required" },
      { field: "spec.scenarios[0].steps[1].rpc.request_json", problem: "intervalMs: expected number (uint32), got [1]" },
      expect.objectContaining({ field: "spec.scenarios[0].steps[1].checks[0]" }),
    ]);
  });

  it("refuses a status check on an RPC step (its outcome is its code), not on an HTTP step", () => {
    const status = { name: "ok", kind: { case: "status" as const, value: { codes: [200] } } };
    const problems = checkSpec(
      rpcSpec(scenario(step("a", { service: SERVICE, method: "Echo" }, { checks: [status] }), { name: "b", url: "/ping", checks: [status] })),
    ).problems;
    expect(problems).toEqual([
      {
        field: "spec.scenarios[0].steps[0].checks[0].status",
        problem: "checks an HTTP status, which an RPC step does not have: its outcome is its RPC code (code_counts; a code other than ok fails the call)",
      },
    ]);
  });

  it("needs a schema that reads, and names what is wrong with it", () => {
    const rpc = { service: SERVICE, method: "Echo" };
    expect(checkSpec(rpcSpec({ rpcSchema: undefined, rpc })).problems).toEqual([
      { field: "spec.rpc_schema", problem: "is required: the test's requests are RPCs, and their descriptors come from the target's reflection or an image (--schema)" },
    ]);
    expect(checkSpec(rpcSpec({ rpcSchema: undefined, ...scenario(step("a", rpc)) })).problems.map((p) => p.field)).toEqual(["spec.rpc_schema"]);
    const garbage = checkSpec(rpcSpec({ rpcSchema: { source: RpcSchemaSource.IMAGE, image: new TextEncoder().encode("syntax = 3"), origin: "a.binpb" }, rpc }));
    expect(garbage.problems).toEqual([{ field: "spec.rpc_schema.image", problem: expect.stringMatching(/^is not a Buf image or protoset .* \(from a\.binpb\)$/) }]);
    expect(checkSpec(rpcSpec({ rpcSchema: { source: RpcSchemaSource.IMAGE }, rpc })).problems).toEqual([
      { field: "spec.rpc_schema.image", problem: "is empty: it must be a Buf image or a protoset (a binary google.protobuf.FileDescriptorSet)" },
    ]);
    expect(checkSpec(rpcSpec({ rpcSchema: { image: targetImage() }, rpc })).problems.map((p) => p.field)).toEqual(["spec.rpc_schema.source"]);
    const big = checkSpec(rpcSpec({ rpcSchema: { source: RpcSchemaSource.IMAGE, image: new Uint8Array(MAX_SCHEMA_BYTES + 1) }, rpc }));
    expect(big.resourceExhausted).toBe(true);
    expect(big.problems[0]?.problem).toMatch(/^takes 262145 bytes, above the limit of 262144 bytes/);
  });
});
