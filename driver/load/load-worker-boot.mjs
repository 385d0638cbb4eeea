// Entry of a driver's load thread. Worker threads do not inherit the parent's `--import tsx`
// module hooks for their entry file, so this plain module registers tsx, then loads the
// TypeScript entry named by the parent.
import { workerData } from "node:worker_threads";

const { register } = await import("tsx/esm/api");
register();
await import(workerData.entry);
