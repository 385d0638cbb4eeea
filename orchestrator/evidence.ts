/** The bus counts as unreachable when the liveness consumer has not completed a poll for this long. */
export const BUS_STALL_MS = 3000;
/** A pause between two polls longer than this (an idle poll completes every ~100 ms) is a gap in evidence. */
export const POLL_GAP_MS = 1500;

/** What one look at the liveness consumer's polls found. */
export interface EvidenceCheck {
  /** The instant up to which silence counts as evidence; undefined while the bus is unreachable. */
  until: number | undefined;
  /** Set when polls resumed after a gap of this many ms: drivers are owed a fresh window. */
  gap: number | undefined;
}

/**
 * Liveness is judged only on evidence: a driver is missing when the liveness consumer has kept
 * polling the broker for a whole miss window without hearing from it. While the consumer cannot
 * poll (the broker is down, or this process stalled) silence proves nothing; when polls resume
 * after a gap, the caller gives every driver a fresh heartbeat window and moves running tests'
 * deadlines by the gap.
 */
export class LivenessEvidence {
  private lastPoll: number | undefined;
  /** Since when the bus has been unreachable, or undefined. */
  stalledSince: number | undefined;
  /** Times the bus became unreachable. */
  stalls = 0;

  constructor(private readonly log: (m: string) => void) {}

  /** Called every tick with the consumer's last poll (undefined: a bus that cannot fail). */
  check(now: number, lastPollAt: number | undefined): EvidenceCheck {
    const polled = Math.min(now, lastPollAt ?? now);
    let gap: number | undefined;
    if (this.lastPoll !== undefined && polled - this.lastPoll > POLL_GAP_MS) {
      gap = polled - this.lastPoll;
      if (this.stalledSince !== undefined) this.log(`orchestrator: the bus is back after ${gap} ms; drivers get a fresh heartbeat window`);
      this.stalledSince = undefined;
    }
    this.lastPoll = polled;
    if (now - polled < BUS_STALL_MS) return { until: polled, gap };
    if (this.stalledSince === undefined) {
      this.stalledSince = now;
      this.stalls++;
      this.log(`orchestrator: the bus is unreachable (no poll for ${now - polled} ms); no driver is declared lost until it is back`);
    }
    return { until: undefined, gap };
  }
}
