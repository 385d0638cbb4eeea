import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import { RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { TestSchema, TestState, type Test, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import type { TargetAllowlist } from "./allowlist.js";
import { stripData } from "./data-parts.js";
import { DomainError } from "./errors.js";
import { withReflectedSchema } from "./schema-fetch.js";
import type { Store } from "./store.js";
import { stripTlsKey } from "./tls-key.js";
import { checkSpec, describeProblems } from "./validate.js";

/**
 * `spec` with the RPC schema fetched from the target's reflection when it asks for it (see
 * withReflectedSchema), only for a target `allowlist` lets tests load: nothing is asked of one it
 * refuses (permission_denied).
 */
export async function fetchedSpec(spec: TestSpec | undefined, allowlist: TargetAllowlist, timeoutMs: number): Promise<TestSpec | undefined> {
  const refused = spec && allowlist.refusesSpec(spec);
  if (refused) throw new DomainError("permission_denied", refused);
  return withReflectedSchema(spec, timeoutMs);
}

/**
 * CreateTest's preamble: validates `spec` (every problem at once), checks its RPC schema was
 * fetched and its targets are allowed, then stores a new test in CREATED, with the content of its
 * data files and its TLS key apart from the stored spec. Throws a DomainError naming the problem.
 */
export function storeNewTest(spec: TestSpec | undefined, allowlist: TargetAllowlist, store: Store): Test {
  const { problems, resourceExhausted } = checkSpec(spec);
  if (problems.length > 0) throw new DomainError(resourceExhausted ? "resource_exhausted" : "invalid_argument", describeProblems(problems));
  if (spec!.rpcSchema?.source === RpcSchemaSource.REFLECTION && spec!.rpcSchema.image.length === 0)
    throw new DomainError("failed_precondition", "spec.rpc_schema: the target's reflection was not fetched (CreateTest over the API asks it: createTestFetching)");
  const refused = allowlist.refusesSpec(spec!);
  if (refused) throw new DomainError("permission_denied", refused);
  const { spec: keyless, key } = stripTlsKey(spec!);
  const { spec: stored, contents } = stripData(keyless);
  const test = create(TestSchema, {
    id: randomUUID(),
    spec: stored,
    state: TestState.CREATED,
    createdAt: timestampNow(),
  });
  store.putData(test.id, contents);
  store.putTlsKey(test.id, key);
  store.putTest(test);
  return test;
}
