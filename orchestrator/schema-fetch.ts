import { clone } from "@bufbuild/protobuf";
import { RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { connectionOptionsFrom } from "../driver/transport/connection-options.js";
import { fetchReflection } from "../rpc/schema.js";
import { DomainError } from "./errors.js";
import { checkSpec } from "./validate.js";

/** How long CreateTest waits for a target's reflection, all rounds together. */
export const REFLECTION_TIMEOUT_MS = 10_000;

/**
 * CreateTest's first half for a spec whose RPC schema comes from the target's reflection
 * (rpc_schema.source REFLECTION, no image yet): asks the reflection at target_url's origin once and
 * returns the spec with the files in rpc_schema.image, stored with the test from then on, so drivers
 * never ask. Any other spec, and one with problems besides the missing image (CreateTest refuses it
 * with every problem, nothing fetched), is returned as it is. A reflection that fails is
 * failed_precondition naming the URL and the cause.
 */
export async function withReflectedSchema(spec: TestSpec | undefined, timeoutMs: number = REFLECTION_TIMEOUT_MS): Promise<TestSpec | undefined> {
  const schema = spec?.rpcSchema;
  if (!spec || !schema || schema.source !== RpcSchemaSource.REFLECTION || schema.image.length > 0) return spec;
  if (checkSpec(spec).problems.length > 0) return spec;
  const url = new URL(spec.targetUrl);
  let image: Uint8Array;
  try {
    image = await fetchReflection(url, connectionOptionsFrom(spec.http), timeoutMs);
  } catch (err) {
    throw new DomainError("failed_precondition", `spec.rpc_schema cannot be fetched: ${(err as Error).message}`);
  }
  const fetched = clone(TestSpecSchema, spec);
  fetched.rpcSchema!.image = image;
  fetched.rpcSchema!.origin ||= `gRPC reflection at ${url.origin}`;
  return fetched;
}
