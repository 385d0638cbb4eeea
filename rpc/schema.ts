/**
 * Where a test's RPC descriptors come from (RpcSchema in protocol.proto): a binary
 * FileDescriptorSet (a Buf image or a protoset) read into a registry, methods looked up in it, and
 * the target's gRPC server reflection asked for the files behind its services.
 */
import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import * as wkt from "@bufbuild/protobuf/wkt";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { ConnectionOptions } from "../driver/transport/connection-options.js";
import { tlsConnectOptions } from "../driver/transport/tls-options.js";

/**
 * The well-known files, so that a protoset written without its imports (`protoc
 * --descriptor_set_out` without `--include_imports`) still reads.
 */
const WELL_KNOWN: ReadonlyMap<string, DescFile> = new Map(
  Object.entries(wkt)
    .filter(([name]) => name.startsWith("file_google_protobuf_"))
    .map(([, file]) => [(file as DescFile).proto.name, file as DescFile]),
);

/**
 * Reads a binary google.protobuf.FileDescriptorSet (a protoset, or a Buf image: its files are
 * FileDescriptorProtos with extra fields) into a registry. Throws an Error naming the problem: empty,
 * not a descriptor set, no files, or a file whose import is missing.
 */
export function registryFromImage(image: Uint8Array): FileRegistry {
  if (image.length === 0) throw new Error("is empty: it must be a Buf image or a protoset (a binary google.protobuf.FileDescriptorSet)");
  let set;
  try {
    set = fromBinary(FileDescriptorSetSchema, image);
  } catch (err) {
    throw new Error(`is not a Buf image or protoset (a binary google.protobuf.FileDescriptorSet): ${(err as Error).message}`);
  }
  if (set.file.length === 0) throw new Error(`holds no files: ${image.length} bytes that are not a Buf image or protoset (a binary google.protobuf.FileDescriptorSet)`);
  const names = new Set(set.file.map((f) => f.name));
  for (const f of set.file) {
    if (!f.name) throw new Error("holds a file without a name: it is not a Buf image or protoset");
    for (const dep of f.dependency) {
      if (names.has(dep)) continue;
      const known = WELL_KNOWN.get(dep);
      if (!known) throw new Error(`lacks "${dep}", imported by "${f.name}" (build the image with its imports: buf build, or protoc --include_imports)`);
      set.file.unshift(known.proto);
      names.add(dep);
    }
  }
  try {
    return createFileRegistry(set);
  } catch (err) {
    throw new Error(`does not describe valid files: ${(err as Error).message}`);
  }
}

/** The method `service`/`method` of the registry, or the problem (naming what the schema has instead). */
export function findMethod(registry: FileRegistry, service: string, method: string): DescMethod | string {
  if (!service) return "service is required (fully qualified, e.g. kannon.target.v1.TargetService)";
  if (!method) return "method is required (e.g. Echo)";
  const s = registry.getService(service.replace(/^\./, ""));
  if (!s) {
    const services = [...registry].filter((d) => d.kind === "service").map((d) => d.typeName);
    return `service "${service}" is not in the schema (it has ${services.length > 0 ? services.sort().join(", ") : "no services"})`;
  }
  const m = s.methods.find((x) => x.name === method);
  if (!m) return `service "${s.typeName}" has no method "${method}" (it has ${s.methods.map((x) => x.name).join(", ") || "none"})`;
  return m;
}

/** Each reflection version's client shape: the same messages under two package names. */
type ReflectionService = typeof v1.ServerReflection | typeof v1alpha.ServerReflection;

/**
 * Asks the gRPC server reflection at `url`'s origin (grpc.reflection.v1, then v1alpha when the
 * server does not offer v1) for every service it lists and every file those need, over gRPC on
 * HTTP/2 (h2c with prior knowledge on http://, ALPN on https:// with the test's TLS options).
 * Resolves to the binary FileDescriptorSet, dependencies first; rejects with a message naming the
 * URL and what failed. Bounded by `timeoutMs` in all.
 */
export async function fetchReflection(url: URL, http: ConnectionOptions, timeoutMs: number): Promise<Uint8Array> {
  const origin = url.origin;
  const sessions = new Http2SessionManager(origin, { idleConnectionTimeoutMs: timeoutMs }, url.protocol === "https:" ? { ...tlsConnectOptions(http.tls, url), ALPNProtocols: ["h2"] } : {});
  const transport = createGrpcTransport({ baseUrl: origin, sessionManager: sessions });
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    try {
      return await reflect(v1.ServerReflection, transport, signal);
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === Code.Unimplemented)) throw err;
      try {
        return await reflect(v1alpha.ServerReflection, transport, signal);
      } catch (old) {
        throw old instanceof ConnectError && old.code === Code.Unimplemented
          ? new Error("the server offers neither grpc.reflection.v1 nor grpc.reflection.v1alpha (reflection is not enabled)")
          : old;
      }
    }
  } catch (err) {
    const why = signal.aborted ? `no answer within ${timeoutMs} ms` : err instanceof ConnectError ? `[${Code[err.code]}] ${err.rawMessage}` : (err as Error).message;
    throw new Error(`gRPC reflection at ${origin} failed: ${why}`, { cause: err });
  } finally {
    sessions.abort();
  }
}

/**
 * One reflection conversation in rounds: the services, then the files declaring them, then the
 * imports not yet received (each round one stream of requests), until every import is there.
 */
async function reflect(service: ReflectionService, transport: ReturnType<typeof createGrpcTransport>, signal: AbortSignal): Promise<Uint8Array> {
  const client = createClient(service as typeof v1.ServerReflection, transport);
  type Query = v1.ServerReflectionRequest["messageRequest"];
  const ask = async (queries: Query[]) => {
    const answers: v1.ServerReflectionResponse["messageResponse"][] = [];
    async function* requests() {
      for (const messageRequest of queries) yield { messageRequest };
    }
    for await (const res of client.serverReflectionInfo(requests(), { signal })) answers.push(res.messageResponse);
    if (answers.length !== queries.length) throw new Error(`the server answered ${answers.length} of ${queries.length} reflection requests`);
    return answers;
  };

  const [listed] = await ask([{ case: "listServices", value: "" }]);
  if (listed?.case === "errorResponse") throw new Error(`list_services: ${listed.value.errorMessage}`);
  if (listed?.case !== "listServicesResponse") throw new Error(`list_services was answered with ${listed?.case ?? "nothing"}`);
  const services = listed.value.service.map((s) => s.name).filter((name) => !name.startsWith("grpc.reflection."));
  if (services.length === 0) throw new Error("the server lists no services besides reflection");

  const files = new Map<string, FileDescriptorProto>();
  const take = (answer: v1.ServerReflectionResponse["messageResponse"], asked: string) => {
    if (answer.case === "errorResponse") throw new Error(`${asked}: ${answer.value.errorMessage}`);
    if (answer.case !== "fileDescriptorResponse") throw new Error(`${asked} was answered with ${answer.case ?? "nothing"}`);
    for (const bytes of answer.value.fileDescriptorProto) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      if (!files.has(file.name)) files.set(file.name, file);
    }
  };
  const bySymbol = await ask(services.map((value) => ({ case: "fileContainingSymbol", value })));
  bySymbol.forEach((a, i) => take(a, `the file of service "${services[i]}"`));
  for (;;) {
    const missing = [...new Set([...files.values()].flatMap((f) => f.dependency))].filter((d) => !files.has(d));
    if (missing.length === 0) break;
    const byName = await ask(missing.map((value) => ({ case: "fileByFilename", value })));
    const before = files.size;
    byName.forEach((a, i) => take(a, `file "${missing[i]}"`));
    if (files.size === before) throw new Error(`the server did not return ${missing.map((m) => `"${m}"`).join(", ")}`);
  }
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }));
}

/** The files ordered so that every file comes after the files it imports (as protoc writes a set). */
function dependenciesFirst(files: ReadonlyMap<string, FileDescriptorProto>): FileDescriptorProto[] {
  const out: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    const f = files.get(name);
    if (!f || seen.has(name)) return;
    seen.add(name);
    for (const d of f.dependency) visit(d);
    out.push(f);
  };
  for (const name of [...files.keys()].sort()) visit(name);
  return out;
}
