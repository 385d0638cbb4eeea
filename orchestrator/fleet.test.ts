import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HeartbeatMessageSchema, RegisterMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { DriverSchema, DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_LIMIT } from "../workload/defaults.js";
import { Fleet } from "./fleet.js";
import { Store } from "./store.js";

const LIMIT = HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_LIMIT;

describe("Fleet", () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-fleet-"));
    store = new Store(dir);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("READY on register, BUSY/READY from heartbeats, MISSING after 3 missed beats, READY when it beats again, LEFT on leave", () => {
    const fleet = new Fleet(store);
    const changes: string[] = [];
    fleet.subscribe((d) => changes.push(`${d.id}:${DriverState[d.state]}`));
    const t0 = Date.now();
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", host: "h", address: "10.0.0.1" }));
    expect(fleet.ready().map((d) => d.id)).toEqual(["a"]);
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", state: DriverState.BUSY, testId: "t" }));
    expect(fleet.get("a")!.state).toBe(DriverState.BUSY);
    fleet.sweep(t0 + LIMIT - 100);
    expect(fleet.get("a")!.state).toBe(DriverState.BUSY);
    fleet.sweep(Date.now() + LIMIT + 1);
    expect(fleet.get("a")!.state).toBe(DriverState.MISSING);
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", state: DriverState.READY }));
    expect(fleet.get("a")!.state).toBe(DriverState.READY);
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", leaving: true }));
    expect(fleet.get("a")!.state).toBe(DriverState.LEFT);
    // A late beat from a driver that left does not bring it back.
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", state: DriverState.READY }));
    expect(fleet.get("a")!.state).toBe(DriverState.LEFT);
    expect(changes).toEqual(["a:READY", "a:BUSY", "a:MISSING", "a:READY", "a:LEFT"]);
  });

  it("after a restart, stored drivers get a full heartbeat window before they are MISSING", async () => {
    const stale: Driver = create(DriverSchema, {
      id: "old",
      state: DriverState.READY,
      lastHeartbeatAt: timestampAt(Date.now() - 60_000),
    });
    store.putDriver(stale);
    await store.committed();
    const opened = Date.now();
    const fleet = new Fleet(store);
    fleet.sweep(opened + LIMIT - 50);
    expect(fleet.get("old")!.state).toBe(DriverState.READY);
    fleet.sweep(opened + LIMIT + 50);
    expect(fleet.get("old")!.state).toBe(DriverState.MISSING);
    // And the state survives in the store.
    await store.committed();
    expect(new Fleet(store).get("old")!.state).toBe(DriverState.MISSING);
  });

  it("reserved drivers are not offered to another test until released or BUSY", () => {
    const fleet = new Fleet(store);
    for (const id of ["a", "b"]) fleet.onRegister(create(RegisterMessageSchema, { driverId: id }));
    fleet.reserve(["a"], "t1");
    expect(fleet.ready().map((d) => d.id)).toEqual(["b"]);
    fleet.release("t1");
    expect(fleet.ready().map((d) => d.id)).toEqual(["a", "b"]);
  });

  it("a second process with a live driver's id is refused (register and heartbeats); after the holder is gone it takes over", () => {
    const fleet = new Fleet(store);
    const refusals: string[] = [];
    fleet.onRefuse = (id, instance, reason) => refusals.push(`${id}/${instance}: ${reason}`);
    const t0 = Date.now();
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", instanceId: "first", address: "10.0.0.1" }));
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", instanceId: "second", address: "10.0.0.2" }));
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", instanceId: "second", state: DriverState.BUSY, testId: "t" }));
    expect(fleet.get("a")!.instanceId).toBe("first");
    expect(fleet.get("a")!.state).toBe(DriverState.READY);
    // Refused once the holder is heard after the newcomer appeared: both are alive.
    expect(refusals).toHaveLength(0);
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", instanceId: "first", state: DriverState.READY }));
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", instanceId: "second", state: DriverState.BUSY, testId: "t" }));
    expect(refusals).toHaveLength(1); // the heartbeat right after is not told again
    expect(refusals[0]).toMatch(/^a\/second: driver id "a" is already used by a live process \(instance first at 10\.0\.0\.1\); this one \(instance second at 10\.0\.0\.2\) is refused/);
    // A leave from the refused process does not remove the live one.
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", instanceId: "second", leaving: true }));
    expect(fleet.get("a")!.state).toBe(DriverState.READY);
    // Drivers that send no instance id are never compared.
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "a", state: DriverState.READY }));
    expect(refusals).toHaveLength(1);
    // The holder goes missing (a crash): a restarted process with a new instance takes the id over.
    fleet.sweep(t0 + LIMIT + 1000);
    expect(fleet.get("a")!.state).toBe(DriverState.MISSING);
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "a", instanceId: "third" }));
    expect(fleet.get("a")!.state).toBe(DriverState.READY);
    expect(fleet.get("a")!.instanceId).toBe("third");
    expect(refusals).toHaveLength(1);
  });

  it("after an orchestrator restart, a driver restarted meanwhile (new instance) takes its id over: the stored holder was never heard", async () => {
    const first = new Fleet(store);
    first.onRegister(create(RegisterMessageSchema, { driverId: "r", instanceId: "old" }));
    await store.committed();
    const fleet = new Fleet(store);
    const refusals: string[] = [];
    fleet.onRefuse = (id) => refusals.push(id);
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "r", instanceId: "new" }));
    expect(refusals).toEqual([]);
    expect(fleet.get("r")!.instanceId).toBe("new");
    // A gap in evidence (forgive) does not make an unheard holder count as alive either.
    fleet.forgive();
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "r", instanceId: "new", state: DriverState.READY }));
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "r", instanceId: "third" }));
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "r", instanceId: "new", state: DriverState.READY }));
    expect(refusals).toEqual(["r"]); // "new" was heard, also after "third" appeared: it holds the id
  });

  it("after an orchestrator restart, replayed heartbeats of a crashed process do not get its restarted successor refused", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const first = new Fleet(store);
      first.onRegister(create(RegisterMessageSchema, { driverId: "r", instanceId: "crashed" }));
      await store.committed();
      const fleet = new Fleet(store);
      const refusals: string[] = [];
      fleet.onRefuse = (id, instance) => refusals.push(`${id}/${instance}`);
      // The liveness backlog, consumed in one burst: the crashed process's last beats, then its successor.
      for (let i = 0; i < 3; i++) fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "r", instanceId: "crashed", state: DriverState.READY }));
      fleet.onRegister(create(RegisterMessageSchema, { driverId: "r", instanceId: "restarted" }));
      for (let i = 0; i < 3; i++) fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "r", instanceId: "restarted", state: DriverState.READY }));
      expect(refusals).toEqual([]);
      // Live from here: only the successor beats; after a miss window of the old one's silence it holds the id.
      for (let t = 1000; t <= LIMIT + 1000; t += 1000) {
        vi.setSystemTime(Date.now() + 1000);
        fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "r", instanceId: "restarted", state: DriverState.READY }));
      }
      expect(refusals).toEqual([]);
      expect(fleet.get("r")!.instanceId).toBe("restarted");
      expect(fleet.get("r")!.state).toBe(DriverState.READY);
    } finally {
      vi.useRealTimers();
    }
  });

  it("prune forgets drivers that left or went missing long ago, and only those", async () => {
    const fleet = new Fleet(store);
    for (const id of ["gone", "missing", "fresh-left", "ready"]) fleet.onRegister(create(RegisterMessageSchema, { driverId: id }));
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "gone", leaving: true }));
    fleet.onRegister(create(RegisterMessageSchema, { driverId: "fresh-left", leaving: true }));
    fleet.sweep(Date.now() + LIMIT + 1); // every driver unheard for a window: READY ones go MISSING
    fleet.onHeartbeat(create(HeartbeatMessageSchema, { driverId: "ready", state: DriverState.READY }));
    const day = 24 * 3600_000;
    expect(fleet.prune(day)).toBe(0);
    // A day later, with "fresh-left" having left just now (its last beat is recent) and "ready" beating.
    fleet.get("fresh-left")!.lastHeartbeatAt = timestampAt(Date.now() + day);
    fleet.get("ready")!.lastHeartbeatAt = timestampAt(Date.now() + day);
    expect(fleet.prune(day, Date.now() + day + 1000)).toBe(2);
    expect(fleet.list().map((d) => d.id)).toEqual(["fresh-left", "ready"]);
    await store.committed();
    expect(store.listDrivers().map((d) => d.id).sort()).toEqual(["fresh-left", "ready"]);
  });
});
