import { clone, create } from "@bufbuild/protobuf";
import type { HeartbeatMessage, RegisterMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverSchema, DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { msOf, timestampAt } from "../metrics/stats.js";
import { HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import { heartbeatProblem, registerProblem } from "./bus-limits.js";
import { clockChanged, ClockOffsets } from "./clock-offset.js";
import type { Store } from "./store.js";

/** A heartbeat that changes nothing is still written to the store at most this often. */
const PERSIST_HEARTBEAT_EVERY_MS = 10_000;

/** A change to one driver (a copy; listeners may keep it). */
export type FleetListener = (driver: Driver) => void;

/** Called when a second process claims a live driver's id: the newcomer is to be told. */
export type RefuseListener = (driverId: string, instanceId: string, reason: string) => void;

/**
 * Most drivers one orchestrator keeps (its first WatchDrivers message carries them all, at most
 * ~2 KB each with every field at its bound: well under the 32 MiB a stream may queue). A new id
 * beyond it takes the place of the driver LEFT or MISSING longest ago, or is refused.
 */
export const MAX_DRIVERS = 10_000;

/** A refused instance is told again at most this often (its heartbeats keep coming until it stops). */
const REFUSE_AGAIN_MS = 5_000;

/**
 * The orchestrator's view of the fleet: READY → BUSY → READY from heartbeats, MISSING after
 * {@link MISSED_HEARTBEATS_LIMIT} missed beats, READY again when a missing driver beats, LEFT when
 * it says it is leaving. Changes are stored and announced to listeners, one driver at a time.
 *
 * A heartbeat that changes nothing costs O(1): the driver's record is refreshed in place, and
 * written to the store at most every 10 s. Only listings sort the fleet.
 */
export class Fleet {
  private readonly drivers = new Map<string, Driver>();
  private readonly lastPersistMs = new Map<string, number>();
  /**
   * When each driver was last heard from, in this process. The stored last_heartbeat_at is written
   * at most every 10 s, so after a restart every known driver gets a full heartbeat window first.
   */
  private readonly heardAtMs = new Map<string, number>();
  /** When each driver's last message actually arrived in this process (not reset by forgive). */
  private readonly lastHeardMs = new Map<string, number>();
  private readonly listeners = new Set<FleetListener>();
  /** Drivers promised to a starting test, before their heartbeats say BUSY. */
  private readonly reserved = new Map<string, string>();
  /**
   * Drivers that delivered their final metrics for a test that has ended, while their heartbeat
   * still says BUSY with it: free for the next test already (their READY beat is on its way).
   */
  private readonly doneWith = new Map<string, string>();
  /** Instances refused, and when they were last told. */
  private readonly refusedAt = new Map<string, number>();
  /**
   * Per driver id: a process that claimed it while its holder looked alive. It is refused only
   * once the holder is heard after it appeared; replayed beats of a crashed holder (a restarted
   * orchestrator's backlog) are all heard before, and the newcomer takes over when they stop.
   */
  private readonly contenders = new Map<string, { instanceId: string; address: string; refused: boolean }>();
  /** Clock offsets measured from the probes echoed in heartbeats. */
  private readonly clocks = new ClockOffsets();
  /** Told of every refusal (the orchestrator answers the newcomer on the bus). */
  onRefuse: RefuseListener = () => {};

  constructor(
    private readonly store: Store,
    private readonly heartbeatIntervalMs = HEARTBEAT_INTERVAL_MS,
    private readonly maxDrivers = MAX_DRIVERS,
  ) {
    const now = Date.now();
    for (const d of store.listDrivers()) {
      this.drivers.set(d.id, d);
      this.heardAtMs.set(d.id, now);
    }
  }

  /** How many drivers are known. */
  get size(): number {
    return this.drivers.size;
  }

  /** Every driver, sorted by id (copies). */
  list(): Driver[] {
    return this.sortedIds().map((id) => clone(DriverSchema, this.drivers.get(id)!));
  }

  /** Up to `size` drivers sorted by id, after `afterId`; `more` when others follow. */
  page(afterId: string | undefined, size: number): { drivers: Driver[]; more: boolean } {
    const ids = this.sortedIds();
    let from = 0;
    if (afterId !== undefined) {
      // First id greater than afterId (binary search).
      let hi = ids.length;
      while (from < hi) {
        const mid = (from + hi) >> 1;
        if (ids[mid]! <= afterId) from = mid + 1;
        else hi = mid;
      }
    }
    const slice = ids.slice(from, from + size);
    return { drivers: slice.map((id) => clone(DriverSchema, this.drivers.get(id)!)), more: from + size < ids.length };
  }

  get(id: string): Driver | undefined {
    return this.drivers.get(id);
  }

  /** Drivers free for a new test: READY (or done with their ended test) and not reserved, sorted by id. */
  ready(): Driver[] {
    return this.list().filter(
      (d) => (d.state === DriverState.READY || (d.state === DriverState.BUSY && this.doneWith.get(d.id) === d.testId)) && !this.reserved.has(d.id),
    );
  }

  /** A test ended: these drivers delivered their final metrics for it. */
  finished(testId: string, driverIds: readonly string[]): void {
    for (const id of driverIds) {
      this.doneWith.set(id, testId);
      if (this.doneWith.size > 10_000) this.doneWith.delete(this.doneWith.keys().next().value as string);
    }
  }

  /** Holds drivers for a test until they report BUSY (or the reservation is released). */
  reserve(ids: readonly string[], testId: string): void {
    for (const id of ids) this.reserved.set(id, testId);
  }

  /** Releases reservations of a test. */
  release(testId: string): void {
    for (const [id, t] of this.reserved) if (t === testId) this.reserved.delete(id);
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  subscribe(listener: FleetListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * True when another process (instance) than `instanceId` holds `existing` and is alive: it is
   * READY or BUSY and was heard from within the miss window. Drivers without instance ids (older
   * or other-language drivers that do not send one) are never compared.
   */
  private heldByAnother(existing: Driver | undefined, instanceId: string, nowMs: number): boolean {
    if (!existing || !existing.instanceId || !instanceId || existing.instanceId === instanceId) return false;
    if (existing.state !== DriverState.READY && existing.state !== DriverState.BUSY) return false;
    // Only what was heard counts: a holder not heard from since this process started (or since a
    // gap in evidence) may be the crashed predecessor of the newcomer, which then takes over.
    const heard = this.lastHeardMs.get(existing.id);
    return heard !== undefined && nowMs - heard <= this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT;
  }

  /** A process claims `existing`'s id while the holder looks alive: remembered, refused once the holder is heard again. */
  private contend(existing: Driver, instanceId: string, address: string, nowMs: number): void {
    const c = this.contenders.get(existing.id);
    if (c?.instanceId === instanceId) {
      c.address ||= address;
      if (c.refused) this.refuse(existing, instanceId, c.address, nowMs);
      return;
    }
    this.contenders.set(existing.id, { instanceId, address, refused: false });
    if (this.contenders.size > 10_000) this.contenders.delete(this.contenders.keys().next().value as string);
  }

  /** The holder of `driverId` was heard: a process that claimed the id meanwhile is a live duplicate. */
  private holderHeard(existing: Driver, nowMs: number): void {
    const c = this.contenders.get(existing.id);
    if (!c || c.instanceId === existing.instanceId) return;
    c.refused = true;
    this.refuse(existing, c.instanceId, c.address, nowMs);
  }

  private refuse(existing: Driver, instanceId: string, address: string, nowMs: number): void {
    const key = `${existing.id}/${instanceId}`;
    if (nowMs - (this.refusedAt.get(key) ?? -Infinity) < REFUSE_AGAIN_MS) return;
    this.refusedAt.set(key, nowMs);
    if (this.refusedAt.size > 1000) this.refusedAt.delete(this.refusedAt.keys().next().value as string);
    const reason =
      `driver id "${existing.id}" is already used by a live process (instance ${existing.instanceId.slice(0, 8)} at ${existing.address || "?"}); ` +
      `this one (instance ${instanceId.slice(0, 8)}${address ? ` at ${address}` : ""}) is refused: give it another --id`;
    this.onRefuse(existing.id, instanceId, reason);
  }

  /** Register and heartbeat messages skipped for a field out of bounds (see bus-limits.ts). */
  invalid = 0;
  /** Register and heartbeat messages of new drivers refused because the fleet is full ({@link MAX_DRIVERS}). */
  overflow = 0;

  /**
   * Room for one more driver: true while below the bound, or once the driver LEFT or MISSING
   * longest ago (and not promised to a test) is forgotten; false (counted) when none can go.
   */
  private makeRoom(): boolean {
    if (this.drivers.size < this.maxDrivers) return true;
    let oldest: Driver | undefined;
    for (const d of this.drivers.values()) {
      if ((d.state !== DriverState.LEFT && d.state !== DriverState.MISSING) || this.reserved.has(d.id)) continue;
      if (!oldest || msOf(d.lastHeartbeatAt ?? timestampAt(0)) < msOf(oldest.lastHeartbeatAt ?? timestampAt(0))) oldest = d;
    }
    if (oldest) this.forget(oldest.id);
    else this.overflow++;
    return oldest !== undefined;
  }

  /** A driver joined or left. */
  onRegister(m: RegisterMessage): void {
    if (registerProblem(m)) {
      this.invalid++;
      return;
    }
    const now = Date.now();
    const existing = this.drivers.get(m.driverId);
    if (!existing && !this.makeRoom()) return;
    if (m.instanceId && existing?.instanceId && existing.instanceId !== m.instanceId) {
      // Another process with this id: refused while the holder is alive; a leaving one is not the holder.
      if (m.leaving) return;
      if (this.heldByAnother(existing, m.instanceId, now)) return this.contend(existing!, m.instanceId, m.address, now);
    }
    if (existing && m.instanceId && existing.instanceId === m.instanceId && !m.leaving) this.holderHeard(existing, now);
    else if (!m.leaving) this.contenders.delete(m.driverId);
    const driver = existing ? clone(DriverSchema, existing) : create(DriverSchema, { id: m.driverId });
    if (m.leaving) {
      driver.state = DriverState.LEFT;
      driver.testId = "";
      this.reserved.delete(m.driverId);
    } else {
      // What a driver says of itself is shown, not trusted: bounded.
      driver.host = m.host.slice(0, 256);
      driver.address = m.address.slice(0, 256);
      driver.version = m.version.slice(0, 64);
      driver.state = DriverState.READY;
      driver.testId = "";
      driver.registeredAt = timestampAt(now);
      driver.lastHeartbeatAt = timestampAt(now);
      if (driver.instanceId !== m.instanceId) {
        // Another process: its clock is measured afresh.
        this.clocks.forget(driver.id);
        delete driver.clock;
      }
      driver.instanceId = m.instanceId;
      this.heardAtMs.set(driver.id, now);
      this.lastHeardMs.set(driver.id, now);
    }
    this.change(driver, now);
  }

  /** A heartbeat: refreshes liveness and the driver's own state. */
  onHeartbeat(m: HeartbeatMessage): void {
    if (heartbeatProblem(m)) {
      this.invalid++;
      return;
    }
    const now = Date.now();
    const existing = this.drivers.get(m.driverId);
    if (!existing && !this.makeRoom()) return;
    if (existing?.state === DriverState.LEFT) return; // a late beat from a driver that has left
    if (this.heldByAnother(existing, m.instanceId, now)) return this.contend(existing!, m.instanceId, "", now);
    if (existing && m.instanceId && existing.instanceId === m.instanceId) this.holderHeard(existing, now);
    else if (m.instanceId) this.contenders.delete(m.driverId);
    const state = m.state === DriverState.BUSY ? DriverState.BUSY : DriverState.READY;
    if (state === DriverState.BUSY) this.reserved.delete(m.driverId);
    this.heardAtMs.set(m.driverId, now);
    this.lastHeardMs.set(m.driverId, now);
    const clock = this.clocks.sample(m, now);
    if (
      existing &&
      existing.state === state &&
      existing.testId === m.testId &&
      (!m.instanceId || existing.instanceId === m.instanceId) &&
      (!clock || !clockChanged(existing.clock, clock))
    ) {
      // Nothing changed: refresh in place, persist now and then.
      existing.lastHeartbeatAt = timestampAt(now);
      if (clock) existing.clock = clock;
      if (now - (this.lastPersistMs.get(m.driverId) ?? 0) >= PERSIST_HEARTBEAT_EVERY_MS) {
        this.store.putDriver(existing);
        this.lastPersistMs.set(m.driverId, now);
      }
      return;
    }
    const driver = existing ? clone(DriverSchema, existing) : create(DriverSchema, { id: m.driverId, registeredAt: timestampAt(now) });
    this.doneWith.delete(m.driverId);
    driver.state = state;
    driver.testId = m.testId;
    driver.lastHeartbeatAt = timestampAt(now);
    if (clock) driver.clock = clock;
    if (m.instanceId) driver.instanceId = m.instanceId; // a restarted process whose register was lost
    this.change(driver, now);
  }

  /**
   * Marks drivers whose heartbeats stopped as MISSING; call about once a second, and only while
   * the bus is known to be healthy (silence during an outage proves nothing).
   */
  sweep(nowMs = Date.now()): void {
    const limit = this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT;
    for (const d of this.drivers.values()) {
      if (d.state !== DriverState.READY && d.state !== DriverState.BUSY) continue;
      if (nowMs - (this.heardAtMs.get(d.id) ?? 0) > limit) {
        const missing = clone(DriverSchema, d);
        missing.state = DriverState.MISSING;
        this.reserved.delete(d.id);
        this.change(missing, nowMs);
      }
    }
  }

  /** After the bus was unreachable: every driver gets a fresh heartbeat window from `nowMs`. */
  forgive(nowMs = Date.now()): void {
    for (const id of this.drivers.keys()) this.heardAtMs.set(id, nowMs);
  }

  /** Forgets drivers that left or went missing more than `olderThanMs` ago; returns how many. */
  prune(olderThanMs: number, nowMs = Date.now()): number {
    let n = 0;
    for (const d of [...this.drivers.values()]) {
      if (d.state !== DriverState.LEFT && d.state !== DriverState.MISSING) continue;
      const last = d.lastHeartbeatAt ? msOf(d.lastHeartbeatAt) : 0;
      if (nowMs - last <= olderThanMs) continue;
      this.forget(d.id);
      n++;
    }
    return n;
  }

  private forget(id: string): void {
    this.drivers.delete(id);
    this.heardAtMs.delete(id);
    this.lastHeardMs.delete(id);
    this.lastPersistMs.delete(id);
    this.clocks.forget(id);
    this.store.deleteDriver(id);
  }

  private sortedIds(): string[] {
    return [...this.drivers.keys()].sort();
  }

  private change(driver: Driver, nowMs: number): void {
    this.drivers.set(driver.id, driver);
    this.store.putDriver(driver);
    this.lastPersistMs.set(driver.id, nowMs);
    for (const l of this.listeners) l(clone(DriverSchema, driver));
  }
}
