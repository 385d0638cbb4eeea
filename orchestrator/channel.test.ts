import { describe, expect, it } from "vitest";
import { Channel } from "./channel.js";

describe("Channel", () => {
  it("delivers pushed values in order, before and after the consumer waits, then ends", async () => {
    const ch = new Channel<number>();
    ch.push(1);
    const it = ch[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 1, done: false });
    const pending = it.next();
    ch.push(2);
    expect(await pending).toEqual({ value: 2, done: false });
    ch.push(3);
    ch.end();
    ch.push(4);
    expect(await it.next()).toEqual({ value: 3, done: false });
    expect((await it.next()).done).toBe(true);
  });

  it("a consumer that stops early runs onClose", async () => {
    const ch = new Channel<number>();
    let closed = 0;
    ch.onClose = () => closed++;
    ch.push(1);
    for await (const v of ch) if (v === 1) break;
    expect(closed).toBe(1);
  });

  it("a consumer that falls too far behind gets an error, not unbounded memory", async () => {
    const ch = new Channel<number>(3);
    let closed = 0;
    ch.onClose = () => closed++;
    for (let i = 0; i < 5; i++) ch.push(i);
    await expect(ch[Symbol.asyncIterator]().next()).rejects.toThrow(/fell 3 messages behind/);
    expect(closed).toBe(1);
  });

  it("a client that falls behind by bytes (not only messages) gets resource_exhausted", async () => {
    const ch = new Channel<string>({ maxBytes: 1000, sizeOf: (v) => (v as string).length });
    let closed = false;
    ch.onClose = () => (closed = true);
    for (let i = 0; i < 4; i++) ch.push("x".repeat(240));
    expect(ch.bytesQueued).toBe(960);
    ch.push("x".repeat(100)); // would make 1060 bytes
    expect(closed).toBe(true);
    await expect(ch[Symbol.asyncIterator]().next()).rejects.toThrow(/1000 bytes behind/);
  });
});
