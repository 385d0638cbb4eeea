/**
 * CreateTest with an RPC schema from the target's reflection, through the OrchestratorService
 * routes: the image fetched once and stored with the test; every bad input refused with its code
 * and nothing stored.
 */
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { serveRoutes } from "../test/rpc-images.js";
import { Orchestrator } from "./orchestrator.js";
import { reflectionRoutes } from "../rpc/reflection-server.js";
import { orchestratorRoutes } from "./routes.js";

const SERVICE = "kannon.target.v1.TargetService";

describe("CreateTest with rpc_schema from reflection", () => {
  let target: Awaited<ReturnType<typeof serveRoutes>>;
  let bare: Awaited<ReturnType<typeof serveRoutes>>;
  let dir: string;
  let o: Orchestrator;
  let client: ReturnType<typeof createClient<typeof OrchestratorService>>;
  let asked = 0;

  beforeAll(async () => {
    target = await serveRoutes((router) => {
      router.service(TargetService, {});
      router.service(OrchestratorService, {});
      const reflection = reflectionRoutes([TargetService, OrchestratorService]);
      reflection({
        ...router,
        service: (service, impl, options) => {
          // Counts the reflection streams opened, to show the schema is asked once per CreateTest.
          const counted = Object.fromEntries(
            Object.entries(impl).map(([name, fn]) => [name, (...args: unknown[]) => (asked++, (fn as (...a: unknown[]) => unknown)(...args))]),
          );
          return router.service(service, counted as typeof impl, options);
        },
      } as typeof router);
    });
    bare = await serveRoutes((router) => router.service(TargetService, {}));
  });
  afterAll(async () => Promise.all([target.close(), bare.close()]));
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-schema-fetch-"));
    o = await Orchestrator.open({ bus: createBus(createMemoryTransport()), dataDir: dir, log: () => {}, reflectionTimeoutMs: 3000 });
    client = createClient(OrchestratorService, createRouterTransport(orchestratorRoutes(o)));
    asked = 0;
  });
  afterEach(async () => {
    await o.close();
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (url: URL, init: MessageInitShape<typeof TestSpecSchema> = {}) =>
    ({
    targetUrl: url.href,
    workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 1000 } } },
    rpcSchema: { source: RpcSchemaSource.REFLECTION },
    rpc: { service: SERVICE, method: "Echo", requestJson: '{"text": "hi"}' },
    ...init,
    }) as MessageInitShape<typeof TestSpecSchema>;

  const refusal = async (init: MessageInitShape<typeof TestSpecSchema>) => {
    const err = await client.createTest({ spec: init }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  };

  it("fetches the target's files once and stores those the test's RPCs need in rpc_schema.image with their origin", async () => {
    const { test } = await client.createTest({ spec: spec(target.url) });
    const stored = o.getTest(test!.id).spec!.rpcSchema!;
    expect(stored.source).toBe(RpcSchemaSource.REFLECTION);
    expect(stored.origin).toBe(`gRPC reflection at ${target.url.origin}`);
    // The server also offers OrchestratorService (and its many files): only the file the test calls is kept.
    expect(fromBinary(FileDescriptorSetSchema, stored.image).file.map((f) => f.name)).toEqual(["kannon/target/v1/target.proto"]);
    // list_services, then the service's file: two streams, and none once the image is there.
    expect(asked).toBe(2);
    const again = await client.createTest({ spec: spec(target.url, { rpcSchema: stored }) });
    expect(asked).toBe(2);
    expect(o.listTests().items.map((t) => t.id).sort()).toEqual([test!.id, again.test!.id].sort());
  });

  it("keeps every file when a service is not in the image, so that validation lists the services there are", async () => {
    const err = await refusal(spec(target.url, { rpc: { service: "acme.Nope", method: "X" } }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe('spec.rpc service "acme.Nope" is not in the schema (it has kannon.target.v1.TargetService, kannon.v1.OrchestratorService)');
  });

  it("keeps a step's service with its imports, transitively", async () => {
    const { test } = await client.createTest({
      spec: spec(target.url, {
        rpc: undefined,
        scenarios: [{ name: "s", weight: 1, steps: [{ name: "list", rpc: { service: "kannon.v1.OrchestratorService", method: "ListTests" } }] }],
      }),
    });
    const names = fromBinary(FileDescriptorSetSchema, o.getTest(test!.id).spec!.rpcSchema!.image).file.map((f) => f.name);
    expect(names).toContain("kannon/v1/orchestrator.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
    expect(names).not.toContain("kannon/target/v1/target.proto");
  });

  it("refuses an unknown method and request JSON that does not fit as invalid_argument, all at once, storing nothing", async () => {
    const err = await refusal(spec(target.url, { rpc: { service: SERVICE, method: "Ech", requestJson: "{}" } }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe('spec.rpc service "kannon.target.v1.TargetService" has no method "Ech" (it has Echo, Stream, Fail)');
    const json = await refusal(spec(target.url, { rpc: { service: SERVICE, method: "Stream", requestJson: '{"count": "x", "every": 1}' } }));
    expect(json.rawMessage).toBe(
      'spec.rpc.request_json count: expected number (uint32), got "x"; spec.rpc.request_json every: kannon.target.v1.StreamRequest has no such field (it has count, intervalMs, messageBytes)',
    );
    expect(o.listTests().items).toEqual([]);
  });

  it("does not ask a target when the spec has other problems, and names them", async () => {
    const err = await refusal(spec(target.url, { workload: { case: undefined }, method: "GET" }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("spec.workload is required");
    expect(err.rawMessage).toContain("spec.method must be empty when the request is an RPC");
    expect(asked).toBe(0);
    // The domain's synchronous createTest never stores a reflection schema it has not fetched.
    expect(() => o.createTest(create(TestSpecSchema, spec(target.url)))).toThrow("spec.rpc_schema: the target's reflection was not fetched");
    expect(o.listTests().items).toEqual([]);
  });

  it("refuses a schema that cannot be fetched as failed_precondition naming the URL and the cause, storing nothing", async () => {
    const off = await refusal(spec(bare.url));
    expect(off.code).toBe(Code.FailedPrecondition);
    expect(off.rawMessage).toBe(
      `spec.rpc_schema cannot be fetched: gRPC reflection at ${bare.url.origin} failed: the server offers neither grpc.reflection.v1 nor grpc.reflection.v1alpha (reflection is not enabled)`,
    );
    const gone = await serveRoutes(() => {});
    await gone.close();
    const refused = await refusal(spec(gone.url));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.rawMessage).toMatch(new RegExp(`^spec.rpc_schema cannot be fetched: gRPC reflection at ${gone.url.origin} failed: .*ECONNREFUSED`));
    expect(o.listTests().items).toEqual([]);
  });
});
