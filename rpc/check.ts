/**
 * Validation of a test's RPCs (TestSpec.rpc, Step.rpc, TestSpec.rpc_schema): the schema reads, the
 * method exists and can be loaded (unary or server-streaming), the protocol fits the HTTP version,
 * and the request JSON fits the input message. Every problem names its field. Steps are checked
 * where they are compiled (scenario/compile.ts); the rest by orchestrator/validate.ts.
 */
import type { DescMethod, FileRegistry } from "@bufbuild/protobuf";
import { HttpVersion, RpcCodec, RpcCompression, RpcProtocol, RpcSchemaSource, type Rpc } from "../gen/kannon/v1/protocol_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { requestProblems } from "./request-json.js";
import { findMethod, registryFromImage } from "./schema.js";

/** Largest schema image a test may carry: it travels in every test_config message (Kafka's default limit is 1 MB). */
export const MAX_SCHEMA_BYTES = 256 * 1024;
/** Longest RPC deadline: an hour, as request_timeout_ms. */
const MAX_RPC_TIMEOUT_MS = 3_600_000;

type Bad = (field: string, problem: string) => void;

const registries = new WeakMap<Uint8Array, FileRegistry | string>();

/**
 * The registry of the test's schema image (read once per image), the problem with the image, or
 * undefined when the test has no schema.
 */
export function schemaRegistry(spec: TestSpec): FileRegistry | string | undefined {
  const image = spec.rpcSchema?.image;
  if (!image) return undefined;
  let registry = registries.get(image);
  if (registry === undefined) {
    try {
      registry = registryFromImage(image);
    } catch (err) {
      registry = (err as Error).message;
    }
    registries.set(image, registry);
  }
  return registry;
}

/** Whether any request of the test is an RPC (TestSpec.rpc or a step's rpc). */
export function usesRpc(spec: TestSpec): boolean {
  return spec.rpc !== undefined || spec.scenarios.some((s) => s.steps.some((step) => step.rpc !== undefined));
}

/**
 * Checks one RPC (at field path `at`) against the schema; returns its method when the schema has
 * it. `http` is the test's HTTP options (gRPC needs HTTP/2).
 */
export function checkRpc(rpc: Rpc, at: string, registry: FileRegistry, spec: TestSpec, bad: Bad): DescMethod | undefined {
  if (rpc.protocol === RpcProtocol.GRPC && spec.http?.version !== HttpVersion.HTTP_VERSION_2)
    bad(`${at}.protocol`, "grpc needs HTTP/2: set spec.http.version to HTTP_VERSION_2 (--http2), or use connect or grpc-web");
  for (const [field, value, values] of [
    ["protocol", rpc.protocol, RpcProtocol],
    ["codec", rpc.codec, RpcCodec],
    ["compression", rpc.compression, RpcCompression],
  ] as const)
    if (values[value] === undefined) bad(`${at}.${field}`, `${value} is not a value of ${field}`);
  if (rpc.timeoutMs > MAX_RPC_TIMEOUT_MS) bad(`${at}.timeout_ms`, `must be at most ${MAX_RPC_TIMEOUT_MS}, got ${rpc.timeoutMs}`);
  const method = findMethod(registry, rpc.service, rpc.method);
  if (typeof method === "string") return void bad(at, method);
  if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming")
    return void bad(`${at}.method`, `${method.parent.typeName}/${method.name} is ${method.methodKind.replace("_", "-")}: only unary and server-streaming methods can be loaded`);
  return method;
}

/**
 * Checks the test's RPC fields outside its steps: the schema (present when an RPC needs it, a
 * source, an image that reads and fits the size limit; a REFLECTION schema not yet fetched has no
 * image, and its RPCs are checked once it has) and the single request's `rpc` (not with
 * method, body or scenarios; its method and request JSON). True when the image exceeds the size
 * limit (gRPC resource_exhausted).
 */
export function checkSpecRpc(spec: TestSpec, bad: Bad): boolean {
  const schema = spec.rpcSchema;
  let exhausted = false;
  if (!schema) {
    if (usesRpc(spec)) bad("spec.rpc_schema", "is required: the test's requests are RPCs, and their descriptors come from the target's reflection or an image (--schema)");
  } else {
    if (schema.source === RpcSchemaSource.UNSPECIFIED || RpcSchemaSource[schema.source] === undefined)
      bad("spec.rpc_schema.source", "is required: REFLECTION (the target's gRPC reflection) or IMAGE (a Buf image or protoset in rpc_schema.image)");
    if (schema.image.length > MAX_SCHEMA_BYTES) {
      exhausted = true;
      bad("spec.rpc_schema.image", `takes ${schema.image.length} bytes, above the limit of ${MAX_SCHEMA_BYTES} bytes (it travels in every test_config message): build it with only the files the test needs`);
    } else if (schema.image.length === 0) {
      // A reflection schema is fetched by CreateTest (orchestrator/schema-fetch.ts), which then checks the RPCs against it.
      if (schema.source !== RpcSchemaSource.REFLECTION) bad("spec.rpc_schema.image", "is empty: it must be a Buf image or a protoset (a binary google.protobuf.FileDescriptorSet)");
    } else {
      const registry = schemaRegistry(spec);
      if (typeof registry === "string") bad("spec.rpc_schema.image", `${registry}${schema.origin ? ` (from ${schema.origin})` : ""}`);
    }
  }
  const rpc = spec.rpc;
  if (!rpc) return exhausted;
  if (spec.method) bad("spec.method", "must be empty when the request is an RPC (spec.rpc): RPCs are POSTs");
  if (spec.body.length > 0) bad("spec.body", "must be empty when the request is an RPC (spec.rpc): the message is spec.rpc.request_json");
  if (spec.scenarios.length > 0) bad("spec.rpc", "must be empty when the test has scenarios (each step has its own rpc)");
  const registry = schemaRegistry(spec);
  if (registry === undefined || typeof registry === "string") return exhausted;
  const method = checkRpc(rpc, "spec.rpc", registry, spec, bad);
  if (method) for (const p of requestProblems(method, rpc.requestJson, registry)) bad("spec.rpc.request_json", p);
  return exhausted;
}
