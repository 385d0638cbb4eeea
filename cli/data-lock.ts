/**
 * One Kannon process per data directory. LMDB lets two processes open the same store, but two
 * orchestrators on one store would each resume, retain and delete the other's tests: `kannon run
 * --data DIR` and `kannon orchestrator --data DIR` take `DIR/kannon.lock` first. A lock whose
 * process is gone (killed, crashed) is taken over.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "./args.js";

/** What a lock file holds. */
interface LockInfo {
  pid: number;
  host: string;
  what: string;
  since: string;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Takes `dir`'s lock for this process (`what` says who: "kannon run"), creating `dir` if needed;
 * returns the release. A usage error names the live process on this host that holds it.
 */
export function lockDataDir(dir: string, what: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "kannon.lock");
  const mine: LockInfo = { pid: process.pid, host: hostname(), what, since: new Date().toISOString() };
  try {
    writeFileSync(path, JSON.stringify(mine), { flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    let held: Partial<LockInfo> = {};
    try {
      held = JSON.parse(readFileSync(path, "utf8")) as Partial<LockInfo>;
    } catch {
      // Unreadable: a write cut short; taken over below.
    }
    if (held.host === mine.host && typeof held.pid === "number" && held.pid !== process.pid && alive(held.pid))
      throw new UsageError(`--data ${dir} is in use by ${held.what ?? "another Kannon process"} (pid ${held.pid}, since ${held.since ?? "?"}): give another directory, or stop that process first`);
    writeFileSync(path, JSON.stringify(mine));
  }
  return () => {
    try {
      if ((JSON.parse(readFileSync(path, "utf8")) as LockInfo).pid === process.pid) unlinkSync(path);
    } catch {
      // Already gone, or taken over: nothing of ours to remove.
    }
  };
}
