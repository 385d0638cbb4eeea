/**
 * A restarted orchestrator replays a long test's stored intervals as a stream: its memory does
 * not hold the run. Run in a process of its own (test/fixtures/replay-memory.ts) so that the
 * peak RSS measured is the replay's.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { REQUESTS_PER_INTERVAL } from "./fake-fleet.js";

const run = promisify(execFile);
const fixture = join(import.meta.dirname, "fixtures", "replay-memory.ts");
const DRIVERS = 10;
const INTERVALS = 3000;
const MB = 1024 * 1024;
/** The stated bounds: live heap after the replay, and peak RSS growth while replaying (mapped store pages included). */
const HEAP_BOUND = 40 * MB;
const PEAK_GROWTH_BOUND = 150 * MB;

describe("restart replay memory", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`replays ${DRIVERS} drivers × ${INTERVALS} stored intervals within ${HEAP_BOUND / MB} MB of live heap and ${PEAK_GROWTH_BOUND / MB} MB of peak RSS growth, and reports exactly`, async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-replay-"));
    const db = join(dir, "db");
    await run(process.execPath, ["--import", "tsx", fixture, "prepare", db, String(DRIVERS), String(INTERVALS)], { timeout: 60_000 });
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture, "replay", db], { timeout: 90_000 });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, number | string | boolean>;
    process.stderr.write(
      `replay: ${DRIVERS * INTERVALS} intervals in ${r.replayedMs} ms; live heap after ${Math.round(Number(r.heapAfterReplay) / MB)} MB, ` +
        `peak RSS ${Math.round(Number(r.peakBefore) / MB)} → ${Math.round(Number(r.peakAfterReplay) / MB)} MB; report ${r.reportBytes} bytes\n`,
    );
    expect(r.state).toBe("COMPLETED");
    expect(r.partial).toBe(false);
    expect(r.totalRequests).toBe(DRIVERS * INTERVALS * REQUESTS_PER_INTERVAL);
    expect(r.intervalCount).toBe(INTERVALS);
    // Downsampled to at most 1000 entries, each an exact merge of 3 intervals: nothing lost.
    expect(r.intervalStep).toBe(3);
    expect(r.reportIntervals).toBe(1000);
    expect(r.intervalRequests).toBe(r.totalRequests);
    expect(Number(r.reportBytes)).toBeLessThan(1024 * 1024);
    expect(Number(r.heapAfterReplay)).toBeLessThan(HEAP_BOUND);
    expect(Number(r.peakAfterReplay) - Number(r.peakBefore)).toBeLessThan(PEAK_GROWTH_BOUND);
  }, 150_000);
});
