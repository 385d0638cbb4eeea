/**
 * A spec file's RPC fields as the user writes them, browser-safe (docs/test-spec.md#rpc-targets):
 *
 *     schema: reflection            # or a file: target.binpb / image.pb (Buf image or protoset),
 *                                   # a .proto file or a folder (compiled with buf build)
 *     rpc:                          # the test's request; a step takes `rpc:` too
 *       call: kannon.target.v1.TargetService/Echo   # or service: and method:
 *       request: {text: hi}         # a mapping is sent as its JSON; text as it is (requestJson works too)
 *       protocol: grpc              # connect (default), grpc, grpc-web
 *       codec: json                 # proto (default), json
 *       compression: gzip           # none (default), gzip
 *       timeout: 2s                 # the deadline; default: the test's request timeout
 *
 * A schema file's path is kept in `origin` with an empty image, filled by {@link withSchemaImage}
 * with a loader: cli/spec-file.ts reads the file relative to the spec file, the dashboard's spec
 * editor takes the attached file of that name (web/attached-files.ts). Problems go to `bad`, named
 * by the orchestrator's field paths.
 */
import { create } from "@bufbuild/protobuf";
import { RpcCodec, RpcCompression, RpcProtocol, RpcSchema$, RpcSchemaSchema, RpcSchemaSource, type Rpc, type RpcSchema } from "../gen/kannon/v1/protocol_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { choice, kindOf, mapping, millis, text, type Bad } from "./spec-fields.js";

const RPC_FIELDS = ["call", "service", "method", "request", "request_json", "protocol", "codec", "compression", "timeout", "timeout_ms"];

/** `SERVICE/METHOD` (the service fully qualified) as its two parts, or the problem. */
export function parseCall(call: string): { service: string; method: string } | string {
  const slash = call.lastIndexOf("/");
  const service = call.slice(0, slash).replace(/^\//, "");
  const method = call.slice(slash + 1);
  if (slash < 1 || !service || !method || !/^[A-Za-z_][\w.]*$/.test(service) || !/^[A-Za-z_]\w*$/.test(method))
    return `must be SERVICE/METHOD with the service fully qualified (kannon.target.v1.TargetService/Echo), got "${call}"`;
  return { service, method };
}

/** An RPC's protocol by name: connect, grpc, grpc-web (or the proto's RPC_PROTOCOL_… names). */
export const PROTOCOLS = { CONNECT: RpcProtocol.CONNECT, GRPC: RpcProtocol.GRPC, GRPC_WEB: RpcProtocol.GRPC_WEB };
/** An RPC's codec by name: proto, json. */
export const CODECS = { PROTO: RpcCodec.PROTO, JSON: RpcCodec.JSON };
const COMPRESSIONS = { NONE: RpcCompression.NONE, GZIP: RpcCompression.GZIP };

/** The `rpc` of the test or of a step: `SERVICE/METHOD` alone, or a mapping (see the file's comment). */
export function rpcOfDocument(raw: unknown, at: string, bad: Bad): Rpc {
  const rpc = create(RpcSchema$, {});
  const call = (value: string, field: string) => {
    const parsed = parseCall(value);
    if (typeof parsed === "string") bad(field, parsed);
    else Object.assign(rpc, parsed);
  };
  if (typeof raw === "string") {
    call(raw, at);
    return rpc;
  }
  const r = mapping(raw, at, RPC_FIELDS, bad) ?? {};
  if (r.call !== undefined) {
    if (r.service !== undefined || r.method !== undefined) bad(`${at}.call`, "and service/method are both given: keep one");
    call(text(r.call, `${at}.call`, bad), `${at}.call`);
  } else {
    rpc.service = text(r.service, `${at}.service`, bad);
    rpc.method = text(r.method, `${at}.method`, bad);
  }
  if (r.request !== undefined && r.request_json !== undefined) bad(`${at}.request`, "and requestJson are both given: keep one");
  const request = r.request ?? r.request_json;
  // A mapping is sent as its JSON (templates inside its strings still render in a step).
  rpc.requestJson = typeof request === "object" && request !== null && !Array.isArray(request) ? JSON.stringify(request) : text(request, `${at}.request`, bad);
  rpc.protocol = choice(r.protocol, `${at}.protocol`, bad, "RPC_PROTOCOL_", PROTOCOLS) ?? RpcProtocol.UNSPECIFIED;
  rpc.codec = choice(r.codec, `${at}.codec`, bad, "RPC_CODEC_", CODECS) ?? RpcCodec.UNSPECIFIED;
  rpc.compression = choice(r.compression, `${at}.compression`, bad, "RPC_COMPRESSION_", COMPRESSIONS) ?? RpcCompression.UNSPECIFIED;
  if (r.timeout !== undefined && r.timeout_ms !== undefined) bad(`${at}.timeout`, "and timeoutMs are both given: keep one");
  const timeout = r.timeout ?? r.timeout_ms;
  if (timeout !== undefined && timeout !== null) rpc.timeoutMs = millis(timeout, `${at}.timeout_ms`, bad);
  return rpc;
}

/**
 * The test's `schema`: `reflection`, or a file or folder path (its image read by the CLI, relative
 * to the spec file: the path is kept in `origin`). Undefined when absent.
 */
export function schemaOfDocument(raw: unknown, bad: Bad): RpcSchema | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "string" || raw.trim() === "") {
    bad("spec.rpc_schema", `(schema) must be "reflection" or the path of a Buf image, protoset, .proto file or folder, got ${kindOf(raw)}`);
    return undefined;
  }
  return raw.trim().toLowerCase() === "reflection"
    ? create(RpcSchemaSchema, { source: RpcSchemaSource.REFLECTION })
    : create(RpcSchemaSchema, { source: RpcSchemaSource.IMAGE, origin: raw.trim() });
}

/** Loads a schema file named by a spec (its `origin`): the image and where it came from; throws an Error saying why not. */
export type LoadSchema = (origin: string) => { image: Uint8Array; origin: string };

/**
 * Fills the image of a spec's `schema: FILE` (an IMAGE source with a path in `origin` and no image
 * yet) with `load`; its failure is a problem of `spec.rpc_schema`.
 */
export function withSchemaImage(spec: TestSpec, load: LoadSchema, problems: { field: string; problem: string }[]): void {
  const schema = spec.rpcSchema;
  if (!schema || schema.source !== RpcSchemaSource.IMAGE || schema.image.length > 0 || !schema.origin) return;
  try {
    Object.assign(schema, load(schema.origin));
  } catch (err) {
    problems.push({ field: "spec.rpc_schema", problem: `(schema) ${(err as Error).message}` });
  }
}
