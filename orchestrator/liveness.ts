import { create } from "@bufbuild/protobuf";
import type { Bus, Subscription } from "../bus/bus.js";
import { TriggerAction, TriggerMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { timestampAt } from "../metrics/stats.js";
import { swallowed } from "../metrics/swallowed.js";
import { CLOCK_PROBE_EVERY_MS } from "./clock-offset.js";
import { LivenessEvidence, type EvidenceCheck } from "./evidence.js";
import type { Fleet } from "./fleet.js";

/** How long after leaving or going missing a driver is forgotten, by default: a day. */
const DEFAULT_FORGET_DRIVERS_AFTER_MS = 24 * 3600_000;
/** How often drivers gone for long are pruned. */
const PRUNE_EVERY_MS = 60_000;

/** The liveness counters the orchestrator reports. */
export interface LivenessStats {
  heartbeats: number;
  /** Times the bus became unreachable (liveness judgement paused). */
  busStalls: number;
  /** Clock probes that could not be sent (the bus was unreachable). */
  clockProbesFailed: number;
}

/**
 * The fleet's liveness: registrations and heartbeats consumed on a subscription of their own
 * (O(1) each, so a metrics backlog never makes a driver look dead), silence judged only on
 * evidence that the bus was reachable ({@link LivenessEvidence}), drivers gone for long
 * forgotten, and the fleet's clocks probed (the drivers echo the probe in a heartbeat).
 */
export class FleetLiveness {
  private subscription: Subscription | undefined;
  private bus: Bus | undefined;
  private lastProbeMs = 0;
  private probing = false;
  /** The last probe failed: the next failure is counted, not logged again. */
  private probeFailing = false;
  private readonly evidence: LivenessEvidence;
  private lastPruneMs = Date.now();

  constructor(
    private readonly fleet: Fleet,
    private readonly stats: LivenessStats,
    private readonly log: (message: string) => void,
    private readonly forgetDriversAfterMs = DEFAULT_FORGET_DRIVERS_AFTER_MS,
  ) {
    this.evidence = new LivenessEvidence(log);
  }

  /** Consumes registrations and heartbeats; refuses (GroupInUseError) when another orchestrator does. */
  async start(bus: Bus): Promise<void> {
    this.bus = bus;
    this.subscription = await bus.subscribe(
      { kind: "shared", group: "orchestrator-liveness", exclusive: true },
      {
        register: (m) => this.fleet.onRegister(m),
        heartbeat: (m) => {
          this.stats.heartbeats++;
          this.fleet.onHeartbeat(m);
        },
      },
    );
  }

  /** Since when the bus has been unreachable, or undefined while it is reachable. */
  get stalledSince(): number | undefined {
    return this.evidence.stalledSince;
  }

  /**
   * One look at the evidence: drivers silent past their window up to the instant it covers are
   * marked missing; after a gap in evidence every driver gets a fresh window; drivers gone for
   * long are forgotten; a clock probe goes out every {@link CLOCK_PROBE_EVERY_MS}. The caller moves
   * its own deadlines by the gap.
   */
  check(now = Date.now()): EvidenceCheck {
    const check = this.evidence.check(now, this.subscription?.lastPollAt?.());
    this.stats.busStalls = this.evidence.stalls;
    if (check.gap !== undefined) this.fleet.forgive(now);
    if (check.until !== undefined) this.fleet.sweep(check.until);
    if (now - this.lastProbeMs >= CLOCK_PROBE_EVERY_MS) this.probeClocks(now);
    if (now - this.lastPruneMs > PRUNE_EVERY_MS) {
      this.lastPruneMs = now;
      const n = this.fleet.prune(this.forgetDriversAfterMs, now);
      if (n > 0) this.log(`orchestrator: forgot ${n} driver(s) gone for more than ${Math.round(this.forgetDriversAfterMs / 60_000)} min`);
    }
    return check;
  }

  /** Sends the fleet a clock probe (one at a time); a probe that cannot be sent is counted, and logged once per outage. */
  private probeClocks(now: number): void {
    this.lastProbeMs = now;
    if (this.probing || !this.bus) return;
    this.probing = true;
    this.bus
      .publish("trigger", "", create(TriggerMessageSchema, { action: TriggerAction.CLOCK_PROBE, sentAt: timestampAt(Date.now()) }))
      .then(
        () => (this.probeFailing = false),
        (err: unknown) => {
          this.stats.clockProbesFailed++;
          swallowed("orchestrator.clock_probe", `orchestrator: could not send a clock probe: ${String(err)}; counting the next failures without a line each until one is sent`, (m) => this.probeFailing || this.log(m));
          this.probeFailing = true;
        },
      )
      .finally(() => (this.probing = false));
  }

  /** Stops consuming. */
  async close(): Promise<void> {
    await this.subscription?.close();
  }
}
