import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usageMessage } from "../test/usage-message.js";
import { lockDataDir } from "./data-lock.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-lock-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A process of this host that is alive until `kill()`. */
function liveProcess() {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  return { pid: child.pid!, kill: async () => (child.kill("SIGKILL"), await once(child, "exit")) };
}

describe("one Kannon process per data directory", () => {
  it("takes the lock (creating the directory), and releases it", async () => {
    const d = join(dir, "fresh", "store");
    const release = lockDataDir(d, "kannon run");
    const held = JSON.parse(await readFile(join(d, "kannon.lock"), "utf8")) as { pid: number; host: string; what: string };
    expect(held).toMatchObject({ pid: process.pid, host: hostname(), what: "kannon run" });
    release();
    expect(existsSync(join(d, "kannon.lock"))).toBe(false);
  });

  it("refuses a directory that a live process of this host holds, naming it; takes over once that process is gone", async () => {
    const d = join(dir, "held");
    const other = liveProcess();
    try {
      await lockDataDirAs(d, other.pid);
      expect(usageMessage(() => lockDataDir(d, "kannon run"))).toMatch(
        new RegExp(`^--data ${d} is in use by kannon orchestrator \\(pid ${other.pid}, since 2026-01-01T00:00:00.000Z\\): give another directory, or stop that process first$`),
      );
    } finally {
      await other.kill();
    }
    const release = lockDataDir(d, "kannon run");
    expect((JSON.parse(await readFile(join(d, "kannon.lock"), "utf8")) as { pid: number }).pid).toBe(process.pid);
    release();
  });

  it("takes over a lock from another host (its process cannot be checked from here) or one that cannot be read", async () => {
    const d = join(dir, "elsewhere");
    const other = liveProcess();
    try {
      const heldBy = async () => (JSON.parse(await readFile(join(d, "kannon.lock"), "utf8")) as { pid: number }).pid;
      await lockDataDirAs(d, other.pid, "another-host.example");
      let release = lockDataDir(d, "kannon run");
      expect(await heldBy()).toBe(process.pid);
      release();
      await writeFile(join(d, "kannon.lock"), "{cut sh");
      release = lockDataDir(d, "kannon run");
      expect(await heldBy()).toBe(process.pid);
      release();
    } finally {
      await other.kill();
    }
  });
});

/** Writes a lock as process `pid` of `host` would have. */
async function lockDataDirAs(d: string, pid: number, host = hostname()) {
  lockDataDir(d, "setup")();
  await writeFile(join(d, "kannon.lock"), JSON.stringify({ pid, host, what: "kannon orchestrator", since: "2026-01-01T00:00:00.000Z" }));
}
