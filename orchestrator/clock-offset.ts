import { create } from "@bufbuild/protobuf";
import type { HeartbeatMessage } from "../gen/kannon/v1/bus_pb.js";
import { ClockOffsetSchema, type ClockOffset, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";

/**
 * The clock contract: a driver's clock (the one it times runs by) must be within this of the
 * orchestrator's. A driver provably beyond it (|offset| − error > bound) is not given tests, and
 * every seq within it is accepted (see LiveTest.rejects).
 */
export const MAX_CLOCK_OFFSET_MS = 500;
/** How often the orchestrator sends a clock probe to the fleet. */
export const CLOCK_PROBE_EVERY_MS = 1000;
/** Samples kept per driver; the estimate is the one with the shortest round trip (NTP's clock filter). */
const SAMPLES_KEPT = 8;
/** A probe echoed this long after it was sent says little (a backlog, or a replayed heartbeat): ignored. */
const MAX_ROUND_TRIP_MS = 5000;
/** An estimate that moves less than this is refreshed in place, not announced as a change. */
const ANNOUNCE_CHANGE_US = 10_000n;

interface Sample {
  offsetUs: bigint;
  errorUs: bigint;
  atMs: number;
}

/**
 * Each driver's clock offset, NTP-style: the orchestrator sends a probe at t1 (its clock), the
 * driver receives it at t2 and echoes both in a heartbeat sent at t3 (its clock), which arrives at
 * t4. offset = ((t2 − t1) + (t3 − t4)) / 2, round trip = (t4 − t1) − (t3 − t2); the true offset is
 * within offset ± round trip / 2.
 */
export class ClockOffsets {
  private readonly samples = new Map<string, Sample[]>();

  /**
   * Takes the probe echoed in heartbeat `m`, arrived at `arrivedMs`; returns the driver's
   * estimate when the heartbeat carried a usable echo, else undefined.
   */
  sample(m: HeartbeatMessage, arrivedMs: number): ClockOffset | undefined {
    if (!m.probeSentAt || !m.probeReceivedAt || !m.sentAt) return undefined;
    const t1 = msOf(m.probeSentAt);
    const t2 = msOf(m.probeReceivedAt);
    const t3 = msOf(m.sentAt);
    const roundTrip = arrivedMs - t1 - (t3 - t2);
    if (!(roundTrip >= 0 && roundTrip <= MAX_ROUND_TRIP_MS) || t3 < t2 || arrivedMs < t1) return undefined;
    const sample: Sample = { offsetUs: BigInt(Math.round(((t2 - t1 + (t3 - arrivedMs)) / 2) * 1000)), errorUs: BigInt(Math.round((roundTrip / 2) * 1000)), atMs: arrivedMs };
    const kept = this.samples.get(m.driverId) ?? [];
    kept.push(sample);
    if (kept.length > SAMPLES_KEPT) kept.shift();
    this.samples.set(m.driverId, kept);
    const best = kept.reduce((a, b) => (b.errorUs < a.errorUs ? b : a));
    return create(ClockOffsetSchema, { offsetUs: best.offsetUs, errorUs: best.errorUs, measuredAt: timestampAt(best.atMs) });
  }

  /** Forgets a driver's samples (it left, or another process took its id). */
  forget(driverId: string): void {
    this.samples.delete(driverId);
  }
}

/** True when the new estimate differs enough from the shown one to be announced (or the problem changes). */
export function clockChanged(shown: ClockOffset | undefined, next: ClockOffset): boolean {
  if (!shown) return true;
  const d = shown.offsetUs - next.offsetUs;
  return d >= ANNOUNCE_CHANGE_US || -d >= ANNOUNCE_CHANGE_US || (clockProblemOf(shown) === undefined) !== (clockProblemOf(next) === undefined);
}

function clockProblemOf(clock: ClockOffset): string | undefined {
  const abs = clock.offsetUs < 0n ? -clock.offsetUs : clock.offsetUs;
  if (abs - clock.errorUs <= BigInt(MAX_CLOCK_OFFSET_MS * 1000)) return undefined;
  return `its clock is ${describeOffset(clock)} the orchestrator's, beyond the ±${MAX_CLOCK_OFFSET_MS} ms a fleet must keep: synchronise it (NTP)`;
}

/** Why `driver` may not take part in a test because of its clock, or undefined (within the bound, or not measured). */
export function clockProblem(driver: Driver): string | undefined {
  const why = driver.clock ? clockProblemOf(driver.clock) : undefined;
  return why && `driver ${driver.id}: ${why}`;
}

/** "2.003 s ahead of (± 4 ms)" / "120 ms behind (± 2 ms)". */
export function describeOffset(clock: ClockOffset): string {
  const ms = Number(clock.offsetUs) / 1000;
  const abs = Math.abs(ms);
  const size = abs >= 1000 ? `${(abs / 1000).toFixed(3)} s` : `${abs.toFixed(1)} ms`;
  return `${size} ${ms >= 0 ? "ahead of" : "behind"} (± ${(Number(clock.errorUs) / 1000).toFixed(1)} ms)`;
}

/**
 * The drivers a test may take from `ready` (sorted by id), or why it cannot start: a driver whose
 * clock is beyond the bound is never picked. A test on every ready driver (`driverCount` 0)
 * refuses to start while any of them is, rather than run silently without it.
 */
export function pickDrivers(ready: readonly Driver[], driverCount: number): { ids: string[] } | { problem: string } {
  const problems = ready.map(clockProblem).filter((p): p is string => p !== undefined);
  const usable = ready.filter((d) => clockProblem(d) === undefined);
  const wanted = driverCount === 0 ? Math.max(1, ready.length) : driverCount;
  if (usable.length >= wanted) return { ids: usable.slice(0, wanted).map((d) => d.id) };
  const names = usable.slice(0, 20).map((d) => d.id).join(", ") + (usable.length > 20 ? `, +${usable.length - 20} more` : "");
  const clocks =
    problems.length === 0
      ? ""
      : `; ${problems.length} more refused for their clocks: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? `; +${problems.length - 5} more` : ""}` +
        (driverCount === 0 ? " (set driver_count to run on the others)" : "");
  return { problem: `needs ${wanted} ready driver(s); ${usable.length} ready (${names || "none"})${clocks}` };
}
