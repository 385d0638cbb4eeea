/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) on a real orchestrator: the real
 * `buf curl` lists and calls the API with no schema at all, over the one port's h2c; the
 * protocol's answers are checked message by message; and reflection obeys the API's rules
 * (the token on a server that has one, a loopback Host name otherwise).
 */
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { targetCounts } from "./helpers.js";

const root = join(import.meta.dirname, "..");
const buf = join(root, "node_modules", ".bin", "buf");
const TOKEN = "tok-reflection-5d1e";
const PROTOCOLS = ["grpc-v1", "grpc-v1alpha"] as const;

/** Runs the real `buf curl` (no --schema: reflection is the only schema source); never throws. */
function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(buf, ["curl", ...args], { cwd: tmpdir(), timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The JSON documents `buf curl` printed, one per response message. */
function documents(stdout: string): Record<string, unknown>[] {
  return (stdout.match(/^\{[\s\S]*?^\}$/gm) ?? []).map((d) => JSON.parse(d) as Record<string, unknown>);
}

const methodNames = OrchestratorService.methods.map((m) => `kannon.v1.OrchestratorService/${m.name}`).sort();

describe("gRPC server reflection with the real buf curl (no --schema)", () => {
  let fleet: Embedded;
  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 2 });
  });
  afterAll(() => fleet?.close());

  for (const protocol of PROTOCOLS) {
    it(`--list-services and --list-methods show OrchestratorService and every method (${protocol})`, async () => {
      const services = await bufCurl(["--reflect-protocol", protocol, "--list-services", fleet.server.url]);
      expect(services.stderr).toBe("");
      expect(services.code).toBe(0);
      expect(services.stdout.trim().split("\n").sort()).toEqual([
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "kannon.v1.OrchestratorService",
      ]);
      const methods = await bufCurl(["--reflect-protocol", protocol, "--list-methods", fleet.server.url]);
      expect(methods.code, methods.stderr).toBe(0);
      const listed = methods.stdout.trim().split("\n").filter((l) => l.startsWith("kannon.v1."));
      expect(listed.sort()).toEqual(methodNames);
      expect(listed.length).toBe(11);
    });

    it(`unary calls work with reflection only: ListDrivers, CreateTest then GetTest (${protocol})`, async () => {
      const base = `${fleet.server.url}/kannon.v1.OrchestratorService`;
      const drivers = await bufCurl(["--reflect-protocol", protocol, "--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}", `${base}/ListDrivers`]);
      expect(drivers.code, drivers.stderr).toBe(0);
      const fleetIds = (documents(drivers.stdout)[0]!.drivers as { id: string; state: string }[]).map((d) => [d.id, d.state]);
      expect(fleetIds).toEqual([
        ["driver-1", "DRIVER_STATE_READY"],
        ["driver-2", "DRIVER_STATE_READY"],
      ]);

      const spec = { targetUrl: `${fleet.target!.url}/ping`, name: `reflected ${protocol}`, avalanche: { concurrency: 1, requestsPerDriver: "3" } };
      const created = await bufCurl(["--reflect-protocol", protocol, "--protocol", "grpc", "-d", JSON.stringify({ spec }), `${base}/CreateTest`]);
      expect(created.code, created.stderr).toBe(0);
      const test = documents(created.stdout)[0]!.test as { id: string; state: string; spec: { name: string; avalanche: { requestsPerDriver: string } } };
      expect(test.state).toBe("TEST_STATE_CREATED");
      expect(test.spec.name).toBe(`reflected ${protocol}`);
      // The Connect protocol over HTTP/1.1 for the call itself; reflection still goes over h2c.
      const got = await bufCurl(["--reflect-protocol", protocol, "-d", JSON.stringify({ testId: test.id }), `${base}/GetTest`]);
      expect(got.code, got.stderr).toBe(0);
      expect(documents(got.stdout)[0]).toEqual({ test });
    });
  }

  it("a whole run through buf curl with reflection only: CreateTest, StartTest, WatchTest to the end", async () => {
    const base = `${fleet.server.url}/kannon.v1.OrchestratorService`;
    const before = (await targetCounts(fleet.target!.url)).requests;
    const spec = { targetUrl: `${fleet.target!.url}/ping`, reportIntervalMs: 100, avalanche: { concurrency: 2, requestsPerDriver: "50" } };
    const created = await bufCurl(["--protocol", "grpc", "-d", JSON.stringify({ spec }), `${base}/CreateTest`]);
    expect(created.code, created.stderr).toBe(0);
    const id = (documents(created.stdout)[0]!.test as { id: string }).id;
    const started = await bufCurl(["--protocol", "grpc", "-d", JSON.stringify({ testId: id }), `${base}/StartTest`]);
    expect(started.code, started.stderr).toBe(0);
    const watched = await bufCurl(["--protocol", "grpc", "-d", JSON.stringify({ testId: id }), `${base}/WatchTest`]);
    expect(watched.code, watched.stderr).toBe(0);
    const messages = documents(watched.stdout);
    expect(messages.length).toBeGreaterThan(1);
    const last = messages.at(-1) as { test: { state: string }; report: { total: { requests: string } } };
    expect(last.test.state).toBe("TEST_STATE_COMPLETED");
    expect(last.report.total.requests).toBe("100");
    expect((await targetCounts(fleet.target!.url)).requests - before).toBe(100);
  });

  it("a method the server lacks is reported as not found by buf curl", async () => {
    const r = await bufCurl(["--protocol", "grpc", "-d", "{}", `${fleet.server.url}/kannon.v1.OrchestratorService/NoSuchMethod`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/NoSuchMethod/);
  });
});

/**
 * A second, independent reflection client: Python's grpcio-reflection descriptor database (v1alpha)
 * feeds a protobuf DescriptorPool, which checks every file and import as it builds; then a dynamic
 * ListDrivers call with message classes made from the reflected schema alone.
 */
const PYTHON_REFLECTION_CLIENT = `
import json, sys, grpc
from google.protobuf import json_format
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

with grpc.insecure_channel(sys.argv[1]) as ch:
    db = ProtoReflectionDescriptorDatabase(ch)
    pool = DescriptorPool(db)
    svc = pool.FindServiceByName("kannon.v1.OrchestratorService")
    method = svc.methods_by_name["ListDrivers"]
    Req, Res = GetMessageClass(method.input_type), GetMessageClass(method.output_type)
    call = ch.unary_unary("/kannon.v1.OrchestratorService/ListDrivers", request_serializer=Req.SerializeToString, response_deserializer=Res.FromString)
    res = call(Req(), timeout=10)
    spec = pool.FindMessageTypeByName("kannon.v1.TestSpec")
    print(json.dumps({
        "services": sorted(db.get_services()),
        "methods": sorted(m.name for m in svc.methods),
        "specImports": [d.name for d in spec.file.dependencies],
        "drivers": json_format.MessageToDict(res)["drivers"],
    }))
`;

describe("reflection from another language: Python grpcio-reflection", () => {
  let fleet: Embedded;
  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 1, target: false });
  });
  afterAll(() => fleet?.close());

  it("builds the schema through reflection alone and calls ListDrivers with it", async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(inject("python"), ["-c", PYTHON_REFLECTION_CLIENT, fleet.server.url.replace("http://", "")], { timeout: 30_000, env: { ...process.env, no_grpc_proxy: "127.0.0.1" } }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const got = JSON.parse(out) as { services: string[]; methods: string[]; specImports: string[]; drivers: { id: string; state: string }[] };
    expect(got.services).toContain("kannon.v1.OrchestratorService");
    expect(got.methods).toEqual(OrchestratorService.methods.map((m) => m.name).sort());
    expect(got.specImports).toEqual(["google/protobuf/timestamp.proto", "kannon/v1/protocol.proto", "kannon/v1/scenario.proto"]);
    expect(got.drivers.map((d) => [d.id, d.state])).toEqual([["driver-1", "DRIVER_STATE_READY"]]);
  });
});

describe("the reflection protocol, message by message (gRPC client over h2c)", () => {
  let fleet: Embedded;
  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 0, target: false });
  });
  afterAll(() => fleet?.close());

  /** Sends `requests` on one bidirectional stream and returns the answers in order. */
  async function ask(requests: MessageInitShape<typeof v1.ServerReflectionRequestSchema>[]) {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: fleet.server.url }));
    async function* send() {
      for (const r of requests) yield r;
    }
    const out: v1.ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(send(), { timeoutMs: 10_000 })) out.push(res);
    return out;
  }
  const fileNames = (res: v1.ServerReflectionResponse) => {
    expect(res.messageResponse.case).toBe("fileDescriptorResponse");
    const r = res.messageResponse.value as v1.FileDescriptorResponse;
    return r.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
  };

  it("answers several requests on one stream, in order, echoing each request", async () => {
    const answers = await ask([
      { host: "h", messageRequest: { case: "listServices", value: "" } },
      { messageRequest: { case: "fileByFilename", value: "kannon/v1/orchestrator.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "kannon.v1.TestSpec" } },
      { messageRequest: { case: "fileContainingSymbol", value: "kannon.v1.OrchestratorService.CreateTest" } },
      { messageRequest: { case: "fileContainingSymbol", value: "kannon.v1.MetricsMessage" } },
    ]);
    expect(answers.length).toBe(5);
    expect(answers[0]!.validHost).toBe("h");
    expect(answers[0]!.originalRequest?.messageRequest.case).toBe("listServices");
    expect(answers[0]!.messageResponse.case).toBe("listServicesResponse");
    expect((answers[0]!.messageResponse.value as v1.ListServiceResponse).service.map((s) => s.name)).toContain("kannon.v1.OrchestratorService");
    // The file asked for first, then everything it imports, google/protobuf/timestamp.proto included.
    const orchestrator = fileNames(answers[1]!);
    expect(orchestrator[0]).toBe("kannon/v1/orchestrator.proto");
    expect(orchestrator.slice(1).sort()).toEqual(["google/protobuf/timestamp.proto", "kannon/v1/driver.proto", "kannon/v1/protocol.proto", "kannon/v1/report.proto", "kannon/v1/scenario.proto", "kannon/v1/test.proto"]);
    expect(fileNames(answers[2]!)).toEqual(["kannon/v1/test.proto", "google/protobuf/timestamp.proto", "kannon/v1/protocol.proto", "kannon/v1/scenario.proto"]);
    expect(fileNames(answers[3]!)[0]).toBe("kannon/v1/orchestrator.proto");
    // The data plane's messages are discoverable too.
    expect(fileNames(answers[4]!)[0]).toBe("kannon/v1/bus.proto");
  });

  it("v1alpha answers the same as v1 on its own service name", async () => {
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl: fleet.server.url }));
    async function* send() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "kannon.v1.OrchestratorService" } };
    }
    const out: v1alpha.ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(send(), { timeoutMs: 10_000 })) out.push(res);
    expect(out[0]!.$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionResponse");
    expect((out[0]!.messageResponse.value as v1alpha.ListServiceResponse).service.map((s) => s.name)).toContain("kannon.v1.OrchestratorService");
    const files = (out[1]!.messageResponse.value as v1alpha.FileDescriptorResponse).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
    expect(files[0]).toBe("kannon/v1/orchestrator.proto");
    expect(files).toContain("google/protobuf/timestamp.proto");
  });

  it("a served FileDescriptorProto is the real one: services, methods, streaming flags, imports", async () => {
    const [answer] = await ask([{ messageRequest: { case: "fileByFilename", value: "kannon/v1/orchestrator.proto" } }]);
    const bytes = (answer!.messageResponse.value as v1.FileDescriptorResponse).fileDescriptorProto[0]!;
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    expect(file.package).toBe("kannon.v1");
    const service = file.service.find((s) => s.name === "OrchestratorService")!;
    expect(service.method.map((m) => m.name).sort()).toEqual(OrchestratorService.methods.map((m) => m.name).sort());
    expect(service.method.find((m) => m.name === "WatchTest")!.serverStreaming).toBe(true);
    expect(file.dependency).toContain("kannon/v1/test.proto");
  });

  it("what does not exist is a NOT_FOUND error_response, and the stream goes on", async () => {
    const answers = await ask([
      { messageRequest: { case: "fileContainingSymbol", value: "kannon.v1.NoSuchThing" } },
      { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "kannon.v1.TestSpec", extensionNumber: 1000 } } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "kannon.v1.NoSuchThing" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "kannon.v1.TestSpec" } },
      { messageRequest: { case: "listServices", value: "" } },
    ]);
    for (const a of answers.slice(0, 4)) {
      expect(a.messageResponse.case).toBe("errorResponse");
      expect((a.messageResponse.value as v1.ErrorResponse).errorCode).toBe(Code.NotFound);
    }
    expect((answers[0]!.messageResponse.value as v1.ErrorResponse).errorMessage).toContain("kannon.v1.NoSuchThing");
    // A known message with no extensions: an empty list, not an error.
    expect(answers[4]!.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({ baseTypeName: "kannon.v1.TestSpec", extensionNumber: [] }),
    });
    expect(answers[5]!.messageResponse.case).toBe("listServicesResponse");
  });
});

describe("reflection obeys the API's rules", () => {
  let dir: string;
  let o: Orchestrator;
  let server: RunningServer;
  let open: Embedded;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-reflection-"));
    o = await Orchestrator.open({ bus: createBus(createMemoryTransport()), dataDir: join(dir, "data"), log: () => {} });
    server = await startServer({ orchestrator: o, token: TOKEN });
    open = await startEmbedded({ drivers: 0, target: false });
  });
  afterAll(async () => {
    await server?.close();
    await o?.close();
    await open?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const protocol of PROTOCOLS) {
    it(`with a token server, reflection without the token is refused; with it, it works (${protocol})`, async () => {
      const refused = await bufCurl(["--reflect-protocol", protocol, "--list-services", server.url]);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout).toBe("");
      // buf reports the server's unauthenticated status in its own words.
      expect(refused.stderr).toMatch(/not authenticated/);
      const wrong = join(dir, "wrong-header");
      await writeFile(wrong, "authorization: Bearer not-the-token\n");
      const refusedWrong = await bufCurl(["--reflect-protocol", protocol, "--reflect-header", `@${wrong}`, "--list-services", server.url]);
      expect(refusedWrong.code).not.toBe(0);
      expect(refusedWrong.stderr).toMatch(/not authenticated/);
      // The token from a file, never on the command line.
      const header = join(dir, "header");
      await writeFile(header, `authorization: Bearer ${TOKEN}\n`);
      const allowed = await bufCurl(["--reflect-protocol", protocol, "--reflect-header", `@${header}`, "--list-services", server.url]);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.stdout).toContain("kannon.v1.OrchestratorService");
    });
  }

  it("without a token, reflection answers only a loopback Host name (no DNS rebinding)", async () => {
    const refused = await bufCurl(["--reflect-header", "host: rebind.example", "--list-services", open.server.url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/permission_denied/);
    expect(refused.stderr).toContain("rebind.example");
    const allowed = await bufCurl(["--reflect-header", "host: localhost", "--list-services", open.server.url]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain("kannon.v1.OrchestratorService");
  });

  it("a gRPC client without the token gets unauthenticated from the reflection stream", async () => {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: server.url }));
    async function* one() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
    }
    const err = await (async () => {
      for await (const _ of client.serverReflectionInfo(one())) void _;
    })().then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    expect(err?.code).toBe(Code.Unauthenticated);
  });
});
