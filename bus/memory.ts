import { eachRecord, GroupInUseError, type Delivery, type RawRecord, type Subscription, type Transport } from "./bus.js";
import { swallowed } from "../metrics/swallowed.js";
import type { Topic } from "./topics.js";

interface Member {
  topics: ReadonlySet<Topic>;
  delivery: Delivery;
  onRecords: (records: RawRecord[]) => Promise<void> | void;
  /** Records waiting for the member's previous batch to finish. */
  queued: RawRecord[];
  /** Batches are delivered in order per subscriber: each waits for the one before it. */
  tail: Promise<void>;
  closed: boolean;
}

/**
 * The in-process transport: the zero-setup default. Same messages, same bytes as Kafka; each
 * shared group gets each record once (round-robin over its members), each broadcast subscriber
 * gets every record. Delivery is asynchronous, in order per subscriber; what queues up while a
 * subscriber is busy reaches it as one batch.
 */
export function createMemoryTransport(): Transport {
  const members: Member[] = [];
  const roundRobin = new Map<string, number>();
  let closed = false;

  function deliver(member: Member, record: RawRecord): void {
    member.queued.push(record);
    if (member.queued.length > 1) return; // a drain is already scheduled
    member.tail = member.tail.then(async () => {
      const batch = member.queued;
      member.queued = [];
      if (member.closed) return;
      try {
        await member.onRecords(batch);
      } catch (err) {
        swallowed("memory_bus.batch_handler", `memory bus: subscriber failed on ${batch.length} record(s): ${String(err)}; they are skipped`);
      }
    });
  }

  function join(topicNames: readonly Topic[], delivery: Delivery, onRecords: Member["onRecords"]): Subscription {
    if (closed) throw new Error("memory bus is closed");
    if (delivery.kind === "shared" && delivery.exclusive && members.some((m) => m.delivery.kind === "shared" && m.delivery.group === delivery.group))
      throw new GroupInUseError(`another subscriber already consumes group "${delivery.group}" of this bus`);
    const member: Member = { topics: new Set(topicNames), delivery, onRecords, queued: [], tail: Promise.resolve(), closed: false };
    members.push(member);
    return {
      async close() {
        member.closed = true;
        const i = members.indexOf(member);
        if (i >= 0) members.splice(i, 1);
        await member.tail;
      },
    };
  }

  return {
    async send(records) {
      if (closed) throw new Error("memory bus is closed");
      for (const record of records) {
        const groups = new Map<string, Member[]>();
        for (const m of members) {
          if (m.closed || !m.topics.has(record.topic)) continue;
          if (m.delivery.kind === "broadcast") deliver(m, record);
          else groups.set(m.delivery.group, [...(groups.get(m.delivery.group) ?? []), m]);
        }
        for (const [group, list] of groups) {
          const n = roundRobin.get(group) ?? 0;
          roundRobin.set(group, n + 1);
          deliver(list[n % list.length]!, record);
        }
      }
    },
    async subscribe(topicNames, delivery, onRecord) {
      return join(topicNames, delivery, eachRecord(onRecord, "memory_bus.record_handler"));
    },
    async subscribeBatch(topicNames, delivery, onRecords) {
      return join(topicNames, delivery, onRecords);
    },
    async close() {
      closed = true;
      await Promise.all(
        [...members].map(async (m) => {
          m.closed = true;
          await m.tail;
        }),
      );
      members.length = 0;
    },
  };
}
