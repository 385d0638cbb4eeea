/**
 * The command-line flags of an RPC test (`kannon run|test --rpc SERVICE/METHOD`): the call, its
 * request JSON, protocol, codec and deadline, and where the schema comes from (--schema).
 */
import { create } from "@bufbuild/protobuf";
import { RpcCodec, RpcProtocol, RpcSchema$, RpcSchemaSchema, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { durationFlag, UsageError, type FlagValues } from "./args.js";
import { loadSchemaFile } from "./schema-file.js";
import { CODECS, parseCall, PROTOCOLS } from "./spec-rpc.js";

/** The RPC flags, part of the test's own flags (cli/spec-args.ts). */
export const rpcFlags = {
  rpc: { type: "string", value: "SERVICE/METHOD", help: "the request is this RPC (e.g. kannon.target.v1.TargetService/Echo), a POST at --url's origin; -H sets its metadata" },
  "rpc-json": { type: "string", value: "JSON", help: "--rpc: the request message in protobuf JSON", default: "{}" },
  "rpc-protocol": { type: "string", value: "P", help: "--rpc: connect, grpc (needs --http2) or grpc-web", default: "connect" },
  "rpc-codec": { type: "string", value: "C", help: "--rpc: proto or json", default: "proto" },
  "rpc-timeout": { type: "string", value: "DURATION", help: "--rpc: the call's deadline, sent to the server", default: "--timeout" },
  schema: {
    type: "string",
    value: "SOURCE",
    help: "--rpc: reflection (asked once by the orchestrator), a Buf image or protoset file (.binpb, .pb), or a .proto file or folder (compiled with buf build)",
    default: "reflection",
  },
} as const;

type RpcValues = FlagValues<typeof rpcFlags> & { method?: string | undefined; body?: string | undefined; "body-file"?: string | undefined };

/** Where each RPC field is set on the command line, for problems in the flags' words. */
export const RPC_FLAG_OF_FIELD: [RegExp, string][] = [
  [/^spec\.rpc\.request_json/, "--rpc-json"],
  [/^spec\.rpc\.protocol/, "--rpc-protocol"],
  [/^spec\.rpc\.codec/, "--rpc-codec"],
  [/^spec\.rpc\.timeout_ms/, "--rpc-timeout"],
  [/^spec\.rpc_schema/, "--schema"],
  [/^spec\.rpc\b/, "--rpc"],
];

/** `--rpc-protocol`/`--rpc-codec` by name (connect, grpc-web, json...). */
function named<T>(v: RpcValues, flag: "rpc-protocol" | "rpc-codec", names: Record<string, T>): T | undefined {
  const raw = v[flag];
  if (raw === undefined) return undefined;
  const found = names[raw.trim().toUpperCase().replace(/-/g, "_")];
  if (found === undefined) throw new UsageError(`--${flag} must be one of ${Object.keys(names).map((n) => n.toLowerCase().replace(/_/g, "-")).join(", ")}, got "${raw}"`);
  return found;
}

/** Sets the test's rpc and rpc_schema from the RPC flags (nothing without --rpc; its companions alone are refused). */
export function applyRpcFlags(spec: TestSpec, v: RpcValues): void {
  if (v.rpc === undefined) {
    const stray = (["rpc-json", "rpc-protocol", "rpc-codec", "rpc-timeout", "schema"] as const).filter((k) => v[k] !== undefined);
    if (stray.length > 0) throw new UsageError(`${stray.map((k) => `--${k}`).join(", ")} ${stray.length > 1 ? "apply" : "applies"} to an RPC: add --rpc SERVICE/METHOD`);
    return;
  }
  const call = parseCall(v.rpc);
  if (typeof call === "string") throw new UsageError(`--rpc ${call}`);
  for (const flag of ["method", "body", "body-file"] as const)
    if (v[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --rpc (an RPC is a POST of --rpc-json): drop it`);
  spec.method = "";
  spec.rpc = create(RpcSchema$, {
    ...call,
    requestJson: v["rpc-json"] ?? "",
    protocol: named(v, "rpc-protocol", PROTOCOLS) ?? RpcProtocol.UNSPECIFIED,
    codec: named(v, "rpc-codec", CODECS) ?? RpcCodec.UNSPECIFIED,
    timeoutMs: durationFlag(v, "rpc-timeout", 0),
  });
  const source = v.schema ?? "reflection";
  if (source.trim().toLowerCase() === "reflection") {
    spec.rpcSchema = create(RpcSchemaSchema, { source: RpcSchemaSource.REFLECTION });
    return;
  }
  try {
    spec.rpcSchema = create(RpcSchemaSchema, { source: RpcSchemaSource.IMAGE, ...loadSchemaFile(source) });
  } catch (err) {
    throw new UsageError(`--schema ${(err as Error).message}`);
  }
}
