/**
 * The private key of a test's client certificate (mutual TLS, TlsOptions.key_pem) is a secret: the
 * orchestrator keeps it apart from the test it stores and serves (GetTest, ListTests, reports and
 * their exports show the spec without it), hands it only to the test's drivers in the
 * test_config message, and drops it with the test's data files once the test can no longer start.
 */
import { clone } from "@bufbuild/protobuf";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";

/** The spec as stored and served (its client key emptied), and the key ("" when it has none). */
export function stripTlsKey(spec: TestSpec): { spec: TestSpec; key: string } {
  const key = spec.http?.tls?.keyPem ?? "";
  if (key === "") return { spec, key };
  const stored = clone(TestSpecSchema, spec);
  stored.http!.tls!.keyPem = "";
  return { spec: stored, key };
}

/** The spec the drivers receive: the stored spec with its client key put back (as is without one). */
export function withTlsKey(spec: TestSpec, key: string | undefined): TestSpec {
  if (!key || !spec.http?.tls) return spec;
  const sent = clone(TestSpecSchema, spec);
  sent.http!.tls!.keyPem = key;
  return sent;
}
