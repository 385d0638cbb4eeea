/**
 * The open pool's rules with stand-in connections (no sockets): which requests go out when, and
 * when the pool grows. A generator that fell behind (its own work, or off its core) keeps the
 * connections it opened ahead however long requests wait, its answers read as they come; requests
 * that keep waiting while answers are missing (a slow target) open more, GROW_AT_ONCE at a time,
 * up to the in-flight cap.
 * open-model.test.ts runs the same pool over real sockets.
 */
import { describe, expect, it } from "vitest";
import { nowMs } from "../clock.js";
import type { H1Connection } from "./h1-connection.js";
import { connectionsAhead, GROW_AFTER_MS, GROW_AT_ONCE, OpenPool } from "./h1-open-pool.js";

/** A connection of one slot that records what it sends; `answer()` ends its request as a read would. */
class StandIn {
  queued = false;
  readonly slots = 1;
  connected = false;
  /** Scheduled times of the requests it sent, in order. */
  readonly carried: number[] = [];
  private sentAt: number | undefined;
  constructor(private readonly freed: (c: H1Connection) => void) {}
  get free(): number {
    return this.sentAt === undefined ? 1 : 0;
  }
  get oldestSent(): number | undefined {
    return this.sentAt;
  }
  send(scheduledMs: number): void {
    this.sentAt = nowMs();
    this.carried.push(scheduledMs);
  }
  connectAhead(): void {}
  /** Its answer was read: the slot is free again. */
  answer(): void {
    this.sentAt = undefined;
    this.freed(this as unknown as H1Connection);
  }
  /** Its connect completed: a free slot to take a waiting request. */
  connect(): void {
    this.connected = true;
    this.freed(this as unknown as H1Connection);
  }
}

function pool(plan: { ratePerS: number; maxInFlight: number }) {
  const made: StandIn[] = [];
  let inFlight = 0;
  const p = new OpenPool(
    (freed) => {
      const c = new StandIn(freed);
      made.push(c);
      return c as unknown as H1Connection;
    },
    1,
    { started: () => void inFlight++, failed: () => void inFlight-- },
  );
  p.prepare(plan);
  return { p, made, waitingCounted: () => inFlight };
}

/** Keeps this thread busy for `ms`: no poll, no timer of it runs (its own work, or off its core). */
function spin(ms: number): void {
  const end = nowMs() + ms;
  while (nowMs() < end) {
    // busy
  }
}

/** The end of this turn: the pool's flush (a setImmediate) has run. */
const endOfTurn = () => new Promise((r) => setImmediate(r));

describe("the open pool", () => {
  it("a generator behind its schedule keeps the connections opened ahead: the waiting requests go out as answers are read, together, oldest first", async () => {
    const plan = { ratePerS: 2000, maxInFlight: 1000 };
    const { p, made } = pool(plan);
    const ahead = connectionsAhead(plan, 1);
    expect(made).toHaveLength(ahead);
    // 40 requests due over the last 20 ms, fired together; then the generator's own work keeps it
    // busy for far longer than GROW_AFTER_MS.
    const due = Array.from({ length: 40 }, (_, i) => nowMs() - 20 + i * 0.5);
    for (const d of due) p.fire(d);
    expect(p.queued).toBe(40 - ahead);
    spin(50);
    for (let turn = 0; p.queued > 0 && turn < 40; turn++) {
      for (const c of made) c.answer();
      // Freed during the reads, they write at the end of the turn, together.
      expect(made.every((c) => c.free === 1)).toBe(true);
      const waited = p.queued;
      await endOfTurn();
      expect(p.queued).toBe(Math.max(0, waited - ahead));
    }
    expect(p.queued).toBe(0);
    expect(p.size).toBe(ahead);
    // Off its core again (no poll, no timer runs) while its last requests are answered, and while
    // more fall due: the answers are read in the turn it is back, and open none either.
    spin(20);
    const more = Array.from({ length: 20 }, () => nowMs());
    for (const d of more) p.fire(d);
    due.push(...more);
    spin(2 * GROW_AFTER_MS);
    for (let turn = 0; p.queued > 0 && turn < 10; turn++) {
      for (const c of made) c.answer();
      await endOfTurn();
    }
    expect(p.size).toBe(ahead);
    expect(made.flatMap((c) => c.carried).sort((a, b) => a - b)).toEqual(due);
    // Each connection carried its requests in their scheduled order.
    for (const c of made) expect(c.carried).toEqual([...c.carried].sort((a, b) => a - b));
  });

  it(`answers missing over ${GROW_AFTER_MS} ms across a poll while requests wait (a slow target) open more, ${GROW_AT_ONCE} connecting at a time, up to the cap`, async () => {
    const plan = { ratePerS: 1000, maxInFlight: 10 };
    const { p, made } = pool(plan);
    const ahead = connectionsAhead(plan, 1);
    for (let i = 0; i < 20; i++) p.fire(nowMs());
    await endOfTurn();
    // The answers are slow to come: one arrives 100 ms later...
    await new Promise((r) => setTimeout(r, 100));
    made[0]!.answer();
    await endOfTurn();
    // ...and at the next turn the others are still missing, across that poll: it grows.
    made[0]!.answer();
    await endOfTurn();
    expect(p.size).toBe(ahead + GROW_AT_ONCE);
    // While those connect, no more are opened.
    made[0]!.answer();
    await endOfTurn();
    expect(p.size).toBe(ahead + GROW_AT_ONCE);
    // They connect and take waiting requests; answers still missing: it opens more, up to the cap
    // (10 connections of one slot), never past it.
    for (const c of made.slice(ahead)) c.connect();
    await endOfTurn();
    expect(made.slice(ahead, ahead + GROW_AT_ONCE).map((c) => c.carried.length)).toEqual([1, 1, 1, 1]);
    expect(p.size).toBe(10);
    for (const c of made.slice(ahead + GROW_AT_ONCE)) c.connect();
    await endOfTurn();
    made[0]!.answer();
    await endOfTurn();
    expect(p.size).toBe(10);
    expect(p.queued).toBeGreaterThan(0);
  });
});
