// Builds native/tls-record.c (the HTTPS fast path's record layer, driver/transport/tls-record.ts)
// into native/build/tls-record.node with the system's C compiler and node's own headers (node:
// Node-API, and the OpenSSL node exports). `npm ci` runs it (package.json "install"), and so does
// installing the published package, which ships this script and the C source. Optional: with
// no compiler or no headers it says so and exits 0, and https connections stay on node:tls.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "native", "tls-record.c");
const out = join(root, "native", "build", "tls-record.node");
const include = [join(dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"].find((d) =>
  existsSync(join(d, "node_api.h")) && existsSync(join(d, "openssl", "evp.h")),
);
const cc = process.env.CC || "cc";
if (include === undefined) {
  console.log("build-native: node's headers (node_api.h, openssl/) not found: https stays on node:tls");
} else {
  try {
    mkdirSync(dirname(out), { recursive: true });
    // -z now: every symbol resolved at load, so a node without the OpenSSL functions this uses
    // fails the require (and https stays on node:tls) instead of aborting at the first use.
    const platform = process.platform === "darwin" ? ["-undefined", "dynamic_lookup"] : ["-Wl,-z,now"];
    execFileSync(cc, ["-O2", "-Wall", "-shared", "-fPIC", ...platform, `-I${include}`, "-o", out, source], { stdio: "inherit" });
    console.log(`build-native: ${out.slice(root.length + 1)} built`);
  } catch (err) {
    console.log(`build-native: ${cc} failed (${err.message.split("\n")[0]}): https stays on node:tls`);
  }
}
