/**
 * Closing the store: a read that comes in while lmdb's close waits for the last writes to commit
 * used to arm a read transaction on the closing environment, and the commit's reset of it threw
 * "Attempt to reset an invalid read txn" from an lmdb callback, an uncaught exception that ended a
 * CI run (an RPC handler read during the orchestrator's close). Now the read throws in its caller.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { Store } from "./store.js";

let dir = "";
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("a read during the close throws in its caller, naming the cause, and nothing throws later from lmdb", async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-store-"));
  const store = new Store(dir);
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on("uncaughtException", onUncaught);
  try {
    const write = store.putLoss("t1", { at: 1, driverId: "d1", message: "lost" });
    const closing = store.close();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(() => store.getTest("t1")).toThrow(/store is closed/);
    expect(() => store.listDrivers()).toThrow(/store is closed/);
    await expect(store.putInterval("t1", {} as never)).rejects.toThrow(/store is closed/);
    store.putDriver({} as never); // a fire-and-forget write after the close is dropped
    expect(await write).toBe(true); // the write issued before the close is committed
    await closing;
    await store.close(); // a second close resolves too
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(uncaught).toEqual([]);
  } finally {
    process.off("uncaughtException", onUncaught);
  }
});

it("what was written before the close is there when the store opens again", async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-store-"));
  const store = new Store(dir);
  await store.putLoss("t1", { at: 7, driverId: "d1", message: "lost" });
  await store.close();
  const again = new Store(dir);
  expect([...again.lossesOf("t1")]).toEqual([{ at: 7, driverId: "d1", message: "lost" }]);
  await again.close();
});
