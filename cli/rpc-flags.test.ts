import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RpcCodec, RpcCompression, RpcProtocol, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { targetImage } from "../test/rpc-images.js";
import { usageMessage } from "../test/usage-message.js";
import { parseFlags } from "./args.js";
import { specFlags, specFromFlags } from "./spec-args.js";
import { readSpecFile } from "./spec-file.js";

const DEFAULT = "http://127.0.0.1:8080/";
const ECHO = "kannon.target.v1.TargetService/Echo";

let dir: string;
let imageFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-rpc-flags-"));
  imageFile = join(dir, "target.binpb");
  await writeFile(imageFile, targetImage());
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const fromArgv = (...argv: string[]) => specFromFlags(parseFlags(argv, specFlags, "test").values, DEFAULT);
const fileNames = (image: Uint8Array) => fromBinary(FileDescriptorSetSchema, image).file.map((f) => f.name);

describe("RPC flags", () => {
  it("--rpc with --rpc-json, --rpc-protocol, --rpc-codec, --rpc-timeout and -H makes the test's rpc; the schema defaults to reflection", () => {
    const spec = fromArgv("--rpc", ECHO, "--rpc-json", '{"text": "hi"}', "--rpc-protocol", "grpc-web", "--rpc-codec", "json", "--rpc-timeout", "2s", "-H", "authorization: Bearer t");
    expect(spec.rpc).toMatchObject({ service: "kannon.target.v1.TargetService", method: "Echo", requestJson: '{"text": "hi"}', protocol: RpcProtocol.GRPC_WEB, codec: RpcCodec.JSON, timeoutMs: 2000 });
    expect(spec.method).toBe("");
    expect(spec.headers).toEqual({ authorization: "Bearer t" });
    expect(spec.rpcSchema?.source).toBe(RpcSchemaSource.REFLECTION);
    expect(spec.rpcSchema?.image.length).toBe(0);
  });

  it("--schema reads a Buf image file, or builds a .proto file with buf build", () => {
    const fromFile = fromArgv("--rpc", ECHO, "--schema", imageFile);
    expect(fromFile.rpcSchema).toMatchObject({ source: RpcSchemaSource.IMAGE, origin: imageFile });
    expect(fileNames(fromFile.rpcSchema!.image)).toEqual(["kannon/target/v1/target.proto"]);
    const built = fromArgv("--rpc", "kannon.target.v1.TargetService/Stream", "--rpc-json", '{"count": 3}', "--schema", "proto/kannon/target/v1/target.proto");
    expect(built.rpcSchema).toMatchObject({ source: RpcSchemaSource.IMAGE, origin: "buf build proto/kannon/target/v1/target.proto" });
    expect(fileNames(built.rpcSchema!.image)).toEqual(["kannon/target/v1/target.proto"]);
  });

  it("names every bad RPC input in the flags' words", () => {
    expect(usageMessage(() => fromArgv("--rpc", "Echo"))).toBe('--rpc must be SERVICE/METHOD with the service fully qualified (kannon.target.v1.TargetService/Echo), got "Echo"');
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--rpc-protocol", "soap"))).toBe('--rpc-protocol must be one of connect, grpc, grpc-web, got "soap"');
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--rpc-codec", "xml"))).toBe('--rpc-codec must be one of proto, json, got "xml"');
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--method", "PUT"))).toBe("--method does not apply to --rpc (an RPC is a POST of --rpc-json): drop it");
    expect(usageMessage(() => fromArgv("--rpc-json", "{}", "--schema", "x.binpb"))).toBe("--rpc-json, --schema apply to an RPC: add --rpc SERVICE/METHOD");
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--schema", join(dir, "missing.binpb")))).toBe(`--schema cannot read "${join(dir, "missing.binpb")}" (ENOENT)`);
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--schema", "cli/rpc-flags.ts"))).toMatch(/^--schema "cli\/rpc-flags\.ts" is not a Buf image or protoset/);
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--schema", join(dir, "nope.proto")))).toMatch(/^--schema cannot read ".*nope\.proto" \(ENOENT\)$/);
    // Checked against the image: the method, the request JSON's field paths, and gRPC's HTTP/2.
    expect(usageMessage(() => fromArgv("--rpc", "kannon.target.v1.TargetService/Ech", "--schema", imageFile))).toBe(
      '--rpc service "kannon.target.v1.TargetService" has no method "Ech" (it has Echo, Stream, Fail)',
    );
    expect(usageMessage(() => fromArgv("--rpc", ECHO, "--rpc-json", '{"text": 1, "delay": 2}', "--rpc-protocol", "grpc", "--schema", imageFile))).toBe(
      "--rpc-protocol grpc needs HTTP/2: set spec.http.version to HTTP_VERSION_2 (--http2), or use connect or grpc-web; --rpc-json text: expected string, got 1; --rpc-json delay: kannon.target.v1.EchoRequest has no such field (it has text, delayMs, responseBytes)",
    );
  });
});

describe("RPC sections of a spec file", () => {
  it("reads rpc: and schema: (a path relative to the spec file), and rpc: in a step", async () => {
    const path = join(dir, "rpc.yaml");
    await writeFile(
      path,
      [
        "targetUrl: http://127.0.0.1:8080/",
        "avalanche: {concurrency: 2, durationMs: 1000}",
        "schema: target.binpb",
        "rpc:",
        `  call: ${ECHO}`,
        "  request: {text: hi, delayMs: 5}",
        "  protocol: grpc-web",
        "  codec: json",
        "  compression: gzip",
        "  timeout: 1.5s",
      ].join("\n"),
    );
    const { spec } = readSpecFile(path);
    expect(spec.rpc).toMatchObject({ service: "kannon.target.v1.TargetService", method: "Echo", requestJson: '{"text":"hi","delayMs":5}', protocol: RpcProtocol.GRPC_WEB, codec: RpcCodec.JSON, compression: RpcCompression.GZIP, timeoutMs: 1500 });
    expect(spec.rpcSchema).toMatchObject({ source: RpcSchemaSource.IMAGE, origin: imageFile });
    expect(fileNames(spec.rpcSchema!.image)).toEqual(["kannon/target/v1/target.proto"]);

    const steps = join(dir, "steps.yaml");
    await writeFile(
      steps,
      [
        "targetUrl: http://127.0.0.1:8080/",
        "avalanche: {concurrency: 2, durationMs: 1000}",
        "schema: reflection",
        "scenarios:",
        "  - name: s",
        "    steps:",
        `      - {name: echo, rpc: ${ECHO}}`,
        "      - name: stream",
        "        rpc: {service: kannon.target.v1.TargetService, method: Stream, request: {count: '{{randInt 1 3}}'}}",
      ].join("\n"),
    );
    const read = readSpecFile(steps).spec;
    expect(read.rpcSchema?.source).toBe(RpcSchemaSource.REFLECTION);
    expect(read.scenarios[0]!.steps.map((s) => [s.rpc?.method, s.rpc?.requestJson])).toEqual([
      ["Echo", ""],
      ["Stream", '{"count":"{{randInt 1 3}}"}'],
    ]);
  });

  it("names every problem of the sections at once", async () => {
    const path = join(dir, "bad.yaml");
    await writeFile(
      path,
      [
        "targetUrl: http://127.0.0.1:8080/",
        "avalanche: {concurrency: 2, durationMs: 1000}",
        "schema: missing.binpb",
        "rpc: {call: nope, protocol: soap, timeout: soon, extra: 1}",
        "scenarios:",
        "  - name: s",
        "    steps:",
        "      - {name: a, rpc: [1]}",
      ].join("\n"),
    );
    const message = usageMessage(() => readSpecFile(path));
    expect(message).toContain(`spec.rpc_schema (schema) cannot read "${join(dir, "missing.binpb")}" (ENOENT)`);
    expect(message).toContain('spec.rpc.call must be SERVICE/METHOD with the service fully qualified (kannon.target.v1.TargetService/Echo), got "nope"');
    expect(message).toContain('spec.rpc.protocol must be one of connect, grpc, grpc_web, got string "soap"');
    expect(message).toContain("spec.rpc.timeout_ms ");
    expect(message).toContain("spec.rpc.extra is not a field here");
    expect(message).toContain("spec.scenarios[0].steps[0].rpc must be a mapping");
    expect(message).toContain("spec.rpc must be empty when the test has scenarios");
  });
});
