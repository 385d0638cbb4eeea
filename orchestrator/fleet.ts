import { clone, create } from "@bufbuild/protobuf";
import type { HeartbeatMessage, RegisterMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverSchema, DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import type { Store } from "./store.js";

/** A heartbeat that changes nothing is still written to the store at most this often. */
const PERSIST_HEARTBEAT_EVERY_MS = 10_000;

/** A change to one driver. */
export type FleetListener = (driver: Driver, fleet: Driver[]) => void;

/**
 * The orchestrator's view of the fleet: READY → BUSY → READY from heartbeats, MISSING after
 * {@link MISSED_HEARTBEATS_LIMIT} missed beats, READY again when a missing driver beats, LEFT when
 * it says it is leaving. Changes are stored and announced to listeners.
 */
export class Fleet {
  private readonly drivers = new Map<string, Driver>();
  private readonly lastPersistMs = new Map<string, number>();
  /**
   * When each driver was last heard from, in this process. The stored last_heartbeat_at is written
   * at most every 10 s, so after a restart every known driver gets a full heartbeat window first.
   */
  private readonly heardAtMs = new Map<string, number>();
  private readonly listeners = new Set<FleetListener>();
  /** Drivers promised to a starting test, before their heartbeats say BUSY. */
  private readonly reserved = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly heartbeatIntervalMs = HEARTBEAT_INTERVAL_MS,
  ) {
    const now = Date.now();
    for (const d of store.listDrivers()) {
      this.drivers.set(d.id, d);
      this.heardAtMs.set(d.id, now);
    }
  }

  /** Every driver, sorted by id. */
  list(): Driver[] {
    return [...this.drivers.values()].sort((a, b) => a.id.localeCompare(b.id)).map((d) => clone(DriverSchema, d));
  }

  get(id: string): Driver | undefined {
    return this.drivers.get(id);
  }

  /** Drivers free for a new test: READY and not reserved. */
  ready(): Driver[] {
    return this.list().filter((d) => d.state === DriverState.READY && !this.reserved.has(d.id));
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

  /** A driver joined or left. */
  onRegister(m: RegisterMessage): void {
    const now = Date.now();
    const existing = this.drivers.get(m.driverId);
    const driver = existing ? clone(DriverSchema, existing) : create(DriverSchema, { id: m.driverId });
    if (m.leaving) {
      driver.state = DriverState.LEFT;
      driver.testId = "";
      this.reserved.delete(m.driverId);
    } else {
      driver.host = m.host;
      driver.address = m.address;
      driver.version = m.version;
      driver.state = DriverState.READY;
      driver.testId = "";
      driver.registeredAt = timestampAt(now);
      driver.lastHeartbeatAt = timestampAt(now);
      this.heardAtMs.set(driver.id, now);
    }
    this.change(driver, true);
  }

  /** A heartbeat: refreshes liveness and the driver's own state. */
  onHeartbeat(m: HeartbeatMessage): void {
    const now = Date.now();
    const existing = this.drivers.get(m.driverId);
    if (existing?.state === DriverState.LEFT) return; // a late beat from a driver that has left
    const driver = existing ? clone(DriverSchema, existing) : create(DriverSchema, { id: m.driverId, registeredAt: timestampAt(now) });
    const state = m.state === DriverState.BUSY ? DriverState.BUSY : DriverState.READY;
    const changed = !existing || existing.state !== state || existing.testId !== m.testId;
    if (state === DriverState.BUSY) this.reserved.delete(m.driverId);
    driver.state = state;
    driver.testId = m.testId;
    driver.lastHeartbeatAt = timestampAt(now);
    this.heardAtMs.set(driver.id, now);
    const persist = changed || now - (this.lastPersistMs.get(m.driverId) ?? 0) >= PERSIST_HEARTBEAT_EVERY_MS;
    this.drivers.set(driver.id, driver);
    if (persist) this.change(driver, changed);
  }

  /** Marks drivers whose heartbeats stopped as MISSING; call about once a second. */
  sweep(nowMs = Date.now()): void {
    const limit = this.heartbeatIntervalMs * MISSED_HEARTBEATS_LIMIT;
    for (const d of this.drivers.values()) {
      if (d.state !== DriverState.READY && d.state !== DriverState.BUSY) continue;
      if (nowMs - (this.heardAtMs.get(d.id) ?? 0) > limit) {
        const missing = clone(DriverSchema, d);
        missing.state = DriverState.MISSING;
        this.reserved.delete(d.id);
        this.change(missing, true);
      }
    }
  }

  private change(driver: Driver, announce: boolean): void {
    this.drivers.set(driver.id, driver);
    this.store.putDriver(driver);
    this.lastPersistMs.set(driver.id, Date.now());
    if (!announce) return;
    const fleet = this.list();
    for (const l of this.listeners) l(clone(DriverSchema, driver), fleet);
  }
}
