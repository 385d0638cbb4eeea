/**
 * RPC schemas for tests: the Buf image of the target's contract, built by the Buf CLI from
 * node_modules (as `kannon run --schema FILE.proto` does), and h2c servers serving reflection.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

let built: Uint8Array | undefined;

/** `buf build proto/kannon/target/v1/target.proto`: the image of kannon.target.v1 (built once per process). */
export function targetImage(): Uint8Array {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "kannon-image-"));
  try {
    execFileSync("node_modules/.bin/buf", ["build", "proto/kannon/target/v1/target.proto", "-o", join(dir, "target.binpb")]);
    return (built = readFileSync(join(dir, "target.binpb")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Connect/gRPC server of `routes` on 127.0.0.1, port 0: h2c, or h2 over TLS with `tls`. */
export async function serveRoutes(routes: (router: ConnectRouter) => void, tls?: { key: string; cert: string }): Promise<{ url: URL; close: () => Promise<void> }> {
  const handler = connectNodeAdapter({ routes });
  const server = tls ? http2.createSecureServer({ ...tls, allowHTTP1: false }, handler) : http2.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`${tls ? "https" : "http"}://127.0.0.1:${port}/some/path`), close: () => new Promise((resolve) => server.close(() => resolve())) };
}
