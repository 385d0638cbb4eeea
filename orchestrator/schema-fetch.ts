import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { connectionOptionsFrom } from "../driver/transport/connection-options.js";
import { fetchReflection } from "../rpc/schema.js";
import { DomainError } from "./errors.js";
import { checkSpec } from "./validate.js";

/** The services the test's RPCs call (TestSpec.rpc and its steps'). */
function rpcServices(spec: TestSpec): Set<string> {
  const rpcs = [spec.rpc, ...spec.scenarios.flatMap((s) => s.steps.map((step) => step.rpc))];
  return new Set(rpcs.flatMap((rpc) => (rpc ? [rpc.service.replace(/^\./, "")] : [])));
}

/**
 * The image cut to the files declaring `services` and what they import, so that a large server's
 * other services do not count against the image's size limit (it travels in every test_config
 * message). When a service is not in the image, all of it is kept: validation then names the
 * services there are.
 */
export function onlyFilesFor(image: Uint8Array, services: ReadonlySet<string>): Uint8Array {
  const set = fromBinary(FileDescriptorSetSchema, image);
  const byName = new Map(set.file.map((f) => [f.name, f]));
  const declaring = new Map(set.file.flatMap((f) => f.service.map((svc) => [f.package ? `${f.package}.${svc.name}` : svc.name, f.name] as const)));
  const keep = new Set<string>();
  const visit = (name: string) => {
    if (keep.has(name) || !byName.has(name)) return;
    keep.add(name);
    for (const dep of byName.get(name)!.dependency) visit(dep);
  };
  for (const service of services) {
    const file = declaring.get(service);
    if (file === undefined) return image;
    visit(file);
  }
  set.file = set.file.filter((f) => keep.has(f.name));
  return toBinary(FileDescriptorSetSchema, set);
}

/** How long CreateTest waits for a target's reflection, all rounds together. */
export const REFLECTION_TIMEOUT_MS = 10_000;

/**
 * CreateTest's first half for a spec whose RPC schema comes from the target's reflection
 * (rpc_schema.source REFLECTION, no image yet): asks the reflection at target_url's origin once and
 * returns the spec with the files its RPCs need in rpc_schema.image, stored with the test from then on, so drivers
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
  fetched.rpcSchema!.image = onlyFilesFor(image, rpcServices(spec));
  fetched.rpcSchema!.origin ||= `gRPC reflection at ${url.origin}`;
  return fetched;
}
