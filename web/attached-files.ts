/**
 * The files a spec names, as the dashboard's spec editor finds them: the browser has no folder to
 * read a path from, so the user attaches the files beside the spec and each path is resolved by its
 * last segment (`./data/users.csv` → the attached `users.csv`). A data file (`dataFiles[].path`)
 * and the PEMs of `http.tls` (`ca`, `cert`, `key`) are read as text, a schema file (`schema: FILE`)
 * as the bytes of a Buf image or protoset; `.proto` sources cannot be compiled in the browser.
 * A path with no attached file is a problem naming the file to attach; so are two different paths
 * with one file name (which attached file each meant is unknown). Pure (no DOM): the mapping
 * itself stays the CLI's (cli/spec-document.ts with these as its resolvers).
 */
import { fileName, type ReadData } from "../cli/spec-scenarios.js";
import type { LoadSchema } from "../cli/spec-rpc.js";

/** The attached files' bytes by file name. */
export type Attached = ReadonlyMap<string, Uint8Array>;

/** What a field's file is, for the problem naming it (`spec.data_files[0].path` → a data file). */
function kindOf(at: string): string {
  if (at.endsWith(".tls.ca")) return "CA certificate (PEM)";
  if (at.endsWith(".tls.cert")) return "client certificate (PEM)";
  if (at.endsWith(".tls.key")) return "private key (PEM)";
  return "data file";
}

/** The problem of a path with no attached file: the file to attach, by kind. */
function missing(path: string, kind: string): string {
  const name = fileName(path);
  return name
    ? `names the ${kind} "${path}": attach ${name} (attach files, beside the spec)`
    : `names "${path}", a folder: the browser reads files only; attach the ${kind} itself, or run kannon test -f FILE`;
}

/** Reads a data file or a PEM named by a spec from the attached files, as UTF-8 text (cli/spec-document.ts's `read`). */
export function attachedReader(files: Attached): ReadData {
  /** The first path that named each file name: two paths naming one attached file are ambiguous. */
  const named = new Map<string, string>();
  return (path, at, bad) => {
    const name = fileName(path);
    const first = named.get(name);
    if (first !== undefined && first !== path) {
      bad(at, `"${path}" and "${first}" both name ${name}, and attached files are found by file name: give the files distinct names`);
      return "";
    }
    named.set(name, path);
    const bytes = files.get(name);
    if (bytes) return new TextDecoder().decode(bytes);
    bad(at, missing(path, kindOf(at)));
    return "";
  };
}

/**
 * Loads a spec's `schema: FILE` from the attached files (cli/spec-rpc.ts withSchemaImage's loader): the
 * bytes of a Buf image or protoset, which the server checks. `.proto` sources and folders are refused.
 */
export function attachedSchema(files: Attached): LoadSchema {
  return (origin) => {
    const name = fileName(origin);
    const image = name.endsWith(".proto") ? undefined : files.get(name);
    if (image) return { image, origin };
    if (name.endsWith(".proto") || !name.includes("."))
      throw new Error(`"${origin}" is .proto source (a file or a folder), which the browser cannot compile: build a Buf image (buf build -o image.binpb), name it and attach it, or run kannon test -f FILE`);
    throw new Error(`${missing(origin, "schema file")}, a Buf image or protoset (buf build -o ${name})`);
  };
}
