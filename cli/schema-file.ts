/**
 * A test's RPC schema from a file (`--schema FILE`, a spec file's `schema: FILE`): a Buf image or
 * protoset read as it is, or `.proto` sources (a file, or a folder: a Buf module or plain files)
 * compiled into an image with `buf build`, using the Buf CLI of the @bufbuild/buf package (or a
 * `buf` on PATH).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { registryFromImage } from "../rpc/schema.js";

/** Largest image read or built (the test carries at most MAX_SCHEMA_BYTES; this only bounds the read). */
const MAX_READ_BYTES = 64 * 1024 * 1024;

/** The Buf CLI: @bufbuild/buf's launcher run with this Node, else `buf` on PATH. */
function bufCommand(): [string, string[]] {
  try {
    return [process.execPath, [createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf")]];
  } catch {
    return ["buf", []];
  }
}

/**
 * The image of `path` with where it came from (RpcSchema.origin): a directory or a `.proto` file is
 * built with `buf build PATH -o -`; any other file is read and must be a Buf image or protoset.
 * Throws an Error naming the path and the problem (unreadable, not an image, buf's own message).
 */
export function loadSchemaFile(path: string): { image: Uint8Array; origin: string } {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new Error(`cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let image: Uint8Array;
  let origin = path;
  if (isDir || path.endsWith(".proto")) {
    const [command, prefix] = bufCommand();
    origin = `buf build ${path}`;
    try {
      image = execFileSync(command, [...prefix, "build", path, "-o", "-"], { maxBuffer: MAX_READ_BYTES, stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === "ENOENT") throw new Error(`"${path}" needs the Buf CLI to compile (npm install @bufbuild/buf, or put buf on PATH), or give a built image (buf build -o image.binpb)`);
      throw new Error(`${origin} failed: ${(e.stderr?.toString() ?? e.message).trim().split("\n").slice(0, 5).join("; ")}`);
    }
  } else {
    try {
      image = readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  try {
    registryFromImage(image);
  } catch (err) {
    throw new Error(`"${path}" ${(err as Error).message}`);
  }
  return { image, origin };
}
