import { create, fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { HttpOptionsSchema } from "../gen/kannon/v1/protocol_pb.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { TargetService } from "../gen/kannon/target/v1/target_pb.js";
import { createReflectionIndex, reflectionRoutes } from "./reflection-server.js";
import { connectionOptionsFrom } from "../driver/transport/connection-options.js";
import { serveRoutes, targetImage } from "../test/rpc-images.js";
import { createTlsFixtures } from "../test/tls-fixtures.js";
import { createTarget } from "../target/target.js";
import { fetchReflection, findMethod, registryFromImage } from "./schema.js";

const noTls = connectionOptionsFrom(undefined);

describe("registryFromImage and findMethod", () => {
  it("reads the Buf image of kannon.target.v1 and finds its methods with their kinds and messages", () => {
    const registry = registryFromImage(targetImage());
    const echo = findMethod(registry, "kannon.target.v1.TargetService", "Echo") as DescMethod;
    expect(typeof echo).toBe("object");
    expect([echo.methodKind, echo.input.typeName, echo.output.typeName]).toEqual(["unary", "kannon.target.v1.EchoRequest", "kannon.target.v1.EchoResponse"]);
    expect(echo.input.fields.map((f) => f.name)).toEqual(["text", "delay_ms", "response_bytes"]);
    const stream = findMethod(registry, "kannon.target.v1.TargetService", "Stream") as DescMethod;
    expect(stream.methodKind).toBe("server_streaming");
  });

  it("names an unknown service or method and lists what the schema has", () => {
    const registry = registryFromImage(targetImage());
    expect(findMethod(registry, "kannon.target.v1.Nope", "Echo")).toBe('service "kannon.target.v1.Nope" is not in the schema (it has kannon.target.v1.TargetService)');
    expect(findMethod(registry, "kannon.target.v1.TargetService", "Echoo")).toBe('service "kannon.target.v1.TargetService" has no method "Echoo" (it has Echo, Stream, Fail)');
    expect(findMethod(registry, "", "Echo")).toMatch(/^service is required/);
  });

  it("refuses bytes that are not a descriptor set, naming the problem", () => {
    expect(() => registryFromImage(new Uint8Array())).toThrow(/^is empty/);
    expect(() => registryFromImage(new TextEncoder().encode("syntax = \"proto3\";"))).toThrow(/is not a Buf image or protoset/);
    // A set whose file imports one it does not carry (and that is not a well-known file).
    const set = fromBinary(FileDescriptorSetSchema, targetImage());
    set.file[0]!.dependency.push("acme/missing.proto");
    expect(() => registryFromImage(toBinary(FileDescriptorSetSchema, set))).toThrow('lacks "acme/missing.proto", imported by "kannon/target/v1/target.proto"');
  });

  it("supplies well-known imports a protoset left out", () => {
    const set = fromBinary(FileDescriptorSetSchema, targetImage());
    set.file[0]!.dependency.push("google/protobuf/timestamp.proto");
    const registry = registryFromImage(toBinary(FileDescriptorSetSchema, set));
    expect(registry.getMessage("google.protobuf.Timestamp")?.fields.map((f) => f.name)).toEqual(["seconds", "nanos"]);
  });
});

describe("fetchReflection", () => {
  let both: Awaited<ReturnType<typeof serveRoutes>>;
  let alphaOnly: Awaited<ReturnType<typeof serveRoutes>>;
  let none: Awaited<ReturnType<typeof serveRoutes>>;
  beforeAll(async () => {
    both = await serveRoutes((router) => {
      router.service(TargetService, {});
      router.service(OrchestratorService, {});
      reflectionRoutes([TargetService, OrchestratorService])(router);
    });
    const index = createReflectionIndex([TargetService]);
    alphaOnly = await serveRoutes((router) => {
      router.service(TargetService, {});
      router.service(v1alpha.ServerReflection, {
        async *serverReflectionInfo(requests) {
          for await (const req of requests) yield { messageResponse: index.answer(req.messageRequest) };
        },
      });
    });
    none = await serveRoutes((router) => router.service(TargetService, {}));
  });
  afterAll(async () => Promise.all([both.close(), alphaOnly.close(), none.close()]));

  it("collects every service's file and its imports, transitively, dependencies first (v1)", async () => {
    const image = await fetchReflection(both.url, noTls, 5000);
    const names = fromBinary(FileDescriptorSetSchema, image).file.map((f) => f.name);
    // Every file of the orchestrator's contract is reached through OrchestratorService's imports.
    const expected = new Set<string>(["kannon/target/v1/target.proto"]);
    const visit = (f: typeof OrchestratorService.file) => {
      if (expected.has(f.proto.name)) return;
      expected.add(f.proto.name);
      f.dependencies.forEach(visit);
    };
    visit(OrchestratorService.file);
    expect(new Set(names)).toEqual(expected);
    expect(names.length).toBe(expected.size);
    const position = new Map(names.map((n, i) => [n, i]));
    for (const f of fromBinary(FileDescriptorSetSchema, image).file) for (const d of f.dependency) expect(position.get(d)).toBeLessThan(position.get(f.name)!);
    const registry = registryFromImage(image);
    expect((findMethod(registry, "kannon.v1.OrchestratorService", "CreateTest") as DescMethod).input.typeName).toBe("kannon.v1.CreateTestRequest");
    expect((findMethod(registry, "kannon.target.v1.TargetService", "Stream") as DescMethod).methodKind).toBe("server_streaming");
  });

  it("reads the project's own target (h2c sniffed at its one port), whose image equals the one buf builds", async () => {
    const target = await createTarget();
    try {
      const image = await fetchReflection(new URL(`${target.url}/ping`), noTls, 5000);
      const names = fromBinary(FileDescriptorSetSchema, image).file.map((f) => f.name);
      expect(names).toContain("kannon/target/v1/target.proto");
      const registry = registryFromImage(image);
      const built = findMethod(registryFromImage(targetImage()), "kannon.target.v1.TargetService", "Stream") as DescMethod;
      const reflected = findMethod(registry, "kannon.target.v1.TargetService", "Stream") as DescMethod;
      expect(reflected.input.fields.map((f) => [f.name, f.number, f.scalar])).toEqual(built.input.fields.map((f) => [f.name, f.number, f.scalar]));
      expect(reflected.methodKind).toBe("server_streaming");
    } finally {
      await target.close();
    }
  });

  it("falls back to v1alpha when the server offers only that", async () => {
    const registry = registryFromImage(await fetchReflection(alphaOnly.url, noTls, 5000));
    expect((findMethod(registry, "kannon.target.v1.TargetService", "Echo") as DescMethod).name).toBe("Echo");
  });

  it("speaks h2 over TLS with the test's CA, and names a certificate that does not verify", async () => {
    const certs = await createTlsFixtures();
    const secure = await serveRoutes((router) => {
      router.service(TargetService, {});
      reflectionRoutes([TargetService])(router);
    }, certs.server);
    try {
      const trusted = connectionOptionsFrom(create(HttpOptionsSchema, { tls: { caPem: certs.ca.cert } }));
      const registry = registryFromImage(await fetchReflection(secure.url, trusted, 5000));
      expect((findMethod(registry, "kannon.target.v1.TargetService", "Fail") as DescMethod).input.typeName).toBe("kannon.target.v1.FailRequest");
      await expect(fetchReflection(secure.url, noTls, 5000)).rejects.toThrow(new RegExp(`^gRPC reflection at ${secure.url.origin} failed: .*(self-signed|unable to verify|self signed)`, "i"));
    } finally {
      await secure.close();
      await certs.cleanup();
    }
  });

  it("names the URL and the cause when reflection is off, nothing listens, or the server is too slow", async () => {
    await expect(fetchReflection(none.url, noTls, 5000)).rejects.toThrow(
      `gRPC reflection at ${none.url.origin} failed: the server offers neither grpc.reflection.v1 nor grpc.reflection.v1alpha (reflection is not enabled)`,
    );
    const closed = await serveRoutes(() => {});
    await closed.close();
    await expect(fetchReflection(closed.url, noTls, 5000)).rejects.toThrow(new RegExp(`^gRPC reflection at ${closed.url.origin} failed: .*ECONNREFUSED`));
    const silent = await serveRoutes((router) =>
      router.service(v1alpha.ServerReflection, {
        async *serverReflectionInfo(requests) {
          for await (const _ of requests) await new Promise((resolve) => setTimeout(resolve, 2000));
        },
      }),
    );
    try {
      await expect(fetchReflection(silent.url, noTls, 300)).rejects.toThrow(`gRPC reflection at ${silent.url.origin} failed: no answer within 300 ms`);
    } finally {
      await silent.close();
    }
  });
});
