import { create, toBinary, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * gRPC server reflection (`grpc.reflection.v1` and `grpc.reflection.v1alpha`) served from the
 * generated descriptors: `buf curl`, `grpcurl` and other tools discover the API without a schema.
 * (`@connectrpc/grpcreflect` is not on npm; the protocol is small enough to answer here.)
 */

/** What a reflection request asks, the same for both protocol versions. */
type ReflectionQuery =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** The answer to one request: the `message_response` oneof, the same shape in both versions. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** The index reflection answers from: files by name, symbols and extensions by the file declaring them. */
export interface ReflectionIndex {
  /** Full names of the services this server offers, sorted. */
  services: string[];
  /** Answers one request. */
  answer(query: ReflectionQuery): ReflectionAnswer;
}

function notFound(what: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } };
}

/**
 * Indexes the files declaring `services` and every file they import (transitively, e.g.
 * `google/protobuf/timestamp.proto`), plus `extraFiles` (types worth discovering that no
 * service uses, such as the data plane's messages).
 */
export function createReflectionIndex(services: readonly DescService[], extraFiles: readonly DescFile[] = []): ReflectionIndex {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messageTypes = new Set<string>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const encoded = new Map<string, Uint8Array>();

  const addMessage = (m: DescMessage, file: DescFile) => {
    symbols.set(m.typeName, file);
    messageTypes.add(m.typeName);
    for (const f of m.fields) symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) symbols.set(`${m.typeName}.${o.name}`, file);
    for (const n of m.nestedMessages) addMessage(n, file);
    for (const e of m.nestedEnums) symbols.set(e.typeName, file);
    for (const x of m.nestedExtensions) addExtension(x.typeName, x.extendee.typeName, x.number, file);
  };
  const addExtension = (name: string, extendee: string, num: number, file: DescFile) => {
    symbols.set(name, file);
    let byNumber = extensions.get(extendee);
    if (!byNumber) extensions.set(extendee, (byNumber = new Map()));
    byNumber.set(num, file);
  };
  const addFile = (file: DescFile) => {
    if (files.has(file.name + ".proto")) return;
    files.set(file.name + ".proto", file);
    for (const dep of file.dependencies) addFile(dep);
    for (const m of file.messages) addMessage(m, file);
    for (const e of file.enums) symbols.set(e.typeName, file);
    for (const x of file.extensions) addExtension(x.typeName, x.extendee.typeName, x.number, file);
    for (const s of file.services) {
      symbols.set(s.typeName, file);
      for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, file);
    }
  };
  for (const s of services) addFile(s.file);
  for (const f of extraFiles) addFile(f);

  const serialized = (file: DescFile): Uint8Array => {
    let bytes = encoded.get(file.name);
    if (!bytes) encoded.set(file.name, (bytes = toBinary(FileDescriptorProtoSchema, file.proto)));
    return bytes;
  };
  // The file asked for first, then everything it imports, each once: the client can then build
  // the file without asking again.
  const withDependencies = (file: DescFile): ReflectionAnswer => {
    const out: DescFile[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(f);
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out.map(serialized) } };
  };

  const serviceNames = services.map((s) => s.typeName).sort();
  return {
    services: serviceNames,
    answer(query) {
      switch (query.case) {
        case "listServices":
          return { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } };
        case "fileByFilename": {
          const file = files.get(query.value);
          return file ? withDependencies(file) : notFound(`file "${query.value}"`);
        }
        case "fileContainingSymbol": {
          const file = symbols.get(query.value.replace(/^\./, ""));
          return file ? withDependencies(file) : notFound(`symbol "${query.value}"`);
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = query.value;
          const file = extensions.get(containingType)?.get(extensionNumber);
          return file ? withDependencies(file) : notFound(`extension ${extensionNumber} of "${containingType}"`);
        }
        case "allExtensionNumbersOfType": {
          // A known message answers with its extension numbers (often none); an unknown name is not found.
          if (!messageTypes.has(query.value)) return notFound(`message type "${query.value}"`);
          const numbers = [...(extensions.get(query.value)?.keys() ?? [])].sort((a, b) => a - b);
          return { case: "allExtensionNumbersResponse", value: { baseTypeName: query.value, extensionNumber: numbers } };
        }
        default:
          return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "the request sets no message_request" } };
      }
    },
  };
}

/**
 * Routes for `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`
 * (bidirectional streams; gRPC over HTTP/2 only, as the protocol requires), answering for
 * `services` (and the reflection services themselves). Register them on the same router as the
 * API, so the same interceptors guard them (the orchestrator's token or loopback rule). Used by the
 * orchestrator and by the load-test target (`target/`).
 */
export function reflectionRoutes(services: readonly DescService[], extraFiles: readonly DescFile[] = []): (router: ConnectRouter) => void {
  const all = [...services, v1.ServerReflection, v1alpha.ServerReflection];
  const index = createReflectionIndex(all, extraFiles);
  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests)
          yield create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: index.answer(req.messageRequest) });
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests)
          yield create(v1alpha.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: index.answer(req.messageRequest) });
      },
    });
  };
}
