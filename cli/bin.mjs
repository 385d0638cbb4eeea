#!/usr/bin/env node
// The installed package's `kannon` command (package.json "bin"): plain JavaScript that any Node
// can parse, so that an old Node gets one line naming its version instead of a stack trace.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`kannon: Node ${process.versions.node} is too old; Kannon needs Node 20.19 or newer (package.json "engines").`);
  process.exit(1);
}
await import("./kannon.js");
