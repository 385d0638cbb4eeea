/**
 * The spec editor's resolvers of attached files, through the CLI's own mapping
 * (cli/spec-document.ts): paths found by their last segment, text for data and PEMs, bytes for a
 * schema image, and a problem naming the file to attach, per kind, when nothing is attached.
 */
import { describe, expect, it } from "vitest";
import { specOfDocument } from "../cli/spec-document.js";
import { withSchemaImage } from "../cli/spec-rpc.js";
import { RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { fileName } from "../cli/spec-scenarios.js";
import { attachedReader, attachedSchema, type Attached } from "./attached-files.js";

const bytes = (s: string) => new TextEncoder().encode(s);

/** The spec of `doc` with `files` attached, and its problems. */
function map(doc: unknown, files: Attached) {
  const problems: { field: string; problem: string }[] = [];
  const spec = specOfDocument(doc, attachedReader(files), problems, "http://127.0.0.1:1/");
  if (spec) withSchemaImage(spec, attachedSchema(files), problems);
  return { spec, problems };
}

describe("attached files", () => {
  it("a path's file name (cli/spec-scenarios.ts fileName), / or \\ separated; empty for a folder", () => {
    expect(fileName("./data/users.csv")).toBe("users.csv");
    expect(fileName("certs\\ca.pem")).toBe("ca.pem");
    expect(fileName("users.csv")).toBe("users.csv");
    expect(fileName("proto/")).toBe("");
  });

  it("a data file, TLS PEMs and a schema image found by their file names", () => {
    const image = Uint8Array.of(10, 3, 97, 46, 112);
    const files = new Map([
      ["users.csv", bytes("id,name\n1,ann\n2,bob\n")],
      ["ca.pem", bytes("-----BEGIN CERTIFICATE-----\nCA\n")],
      ["client.pem", bytes("CERT")],
      ["client.key", bytes("KEY")],
      ["target.binpb", image],
    ]);
    const { spec, problems } = map(
      {
        dataFiles: [{ path: "./data/users.csv" }],
        http: { tls: { ca: "certs/ca.pem", cert: "/abs/client.pem", key: "client.key" } },
        schema: "gen/target.binpb",
      },
      files,
    );
    expect(problems).toEqual([]);
    expect(spec!.dataFiles.map((d) => [d.name, d.content, d.source])).toEqual([["users", "id,name\n1,ann\n2,bob\n", "./data/users.csv"]]);
    expect([spec!.http!.tls!.caPem, spec!.http!.tls!.certPem, spec!.http!.tls!.keyPem]).toEqual(["-----BEGIN CERTIFICATE-----\nCA\n", "CERT", "KEY"]);
    expect(spec!.rpcSchema!.source).toBe(RpcSchemaSource.IMAGE);
    expect([...spec!.rpcSchema!.image]).toEqual([10, 3, 97, 46, 112]);
    expect(spec!.rpcSchema!.origin).toBe("gen/target.binpb");
  });

  it("two different paths with one file name: a problem on the second, naming both (which attached file each meant is unknown)", () => {
    const files = new Map([["users.csv", bytes("id\n1\n")]]);
    const { problems } = map({ dataFiles: [{ path: "a/users.csv", name: "a" }, { path: "b/users.csv", name: "b" }, { path: "a/users.csv", name: "again" }] }, files);
    expect(problems).toEqual([{ field: "spec.data_files[1].path", problem: '"b/users.csv" and "a/users.csv" both name users.csv, and attached files are found by file name: give the files distinct names' }]);
  });

  it("nothing attached: each path a problem of its field naming the file to attach, by kind", () => {
    const { problems } = map({ dataFiles: [{ path: "./data/users.csv" }], http: { tls: { ca: "certs/ca.pem", cert: "c.pem", key: "c.key" } }, schema: "gen/target.binpb" }, new Map());
    expect(problems).toEqual([
      { field: "spec.data_files[0].path", problem: 'names the data file "./data/users.csv": attach users.csv (attach files, beside the spec)' },
      { field: "spec.http.tls.ca", problem: 'names the CA certificate (PEM) "certs/ca.pem": attach ca.pem (attach files, beside the spec)' },
      { field: "spec.http.tls.cert", problem: 'names the client certificate (PEM) "c.pem": attach c.pem (attach files, beside the spec)' },
      { field: "spec.http.tls.key", problem: 'names the private key (PEM) "c.key": attach c.key (attach files, beside the spec)' },
      { field: "spec.rpc_schema", problem: '(schema) names the schema file "gen/target.binpb": attach target.binpb (attach files, beside the spec), a Buf image or protoset (buf build -o target.binpb)' },
    ]);
  });

  it(".proto sources and folders are refused even when a file of that name is attached: the browser cannot compile them", () => {
    for (const schema of ["proto/target.proto", "proto", "proto/"]) {
      const { problems } = map({ schema }, new Map([["target.proto", bytes("syntax = 'proto3';")]]));
      expect(problems).toHaveLength(1);
      expect(problems[0]!.field).toBe("spec.rpc_schema");
      expect(problems[0]!.problem).toMatch(new RegExp(`^\\(schema\\) "${schema}" is \\.proto source .*cannot compile: build a Buf image \\(buf build -o image\\.binpb\\).*or run kannon test -f FILE$`));
    }
  });

  it("a data file folder is named as one", () => {
    expect(map({ dataFiles: [{ path: "data/" }] }, new Map()).problems).toEqual([
      { field: "spec.data_files[0].path", problem: 'names "data/", a folder: the browser reads files only; attach the data file itself, or run kannon test -f FILE' },
    ]);
  });
});
