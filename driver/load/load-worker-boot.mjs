// Entry of a worker thread (a driver's load thread, the built-in target). Worker threads do not
// inherit the parent's `--import tsx` module hooks for their entry file, so from the repository's
// sources this plain module registers tsx, then loads the TypeScript entry named by the parent;
// in the built package (compiled .js, no tsx installed) it imports the entry directly.
import { workerData } from "node:worker_threads";

if (workerData.entry.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import(workerData.entry);
