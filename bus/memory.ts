import type { Delivery, RawRecord, Subscription, Transport } from "./bus.js";
import type { Topic } from "./topics.js";

interface Member {
  topics: ReadonlySet<Topic>;
  delivery: Delivery;
  onRecord: (record: RawRecord) => Promise<void> | void;
  /** Records are delivered in order per subscriber: each waits for the one before it. */
  tail: Promise<void>;
  closed: boolean;
}

/**
 * The in-process transport: the zero-setup default. Same messages, same bytes as Kafka; each
 * shared group gets each record once (round-robin over its members), each broadcast subscriber
 * gets every record. Delivery is asynchronous, in order per subscriber.
 */
export function createMemoryTransport(): Transport {
  const members: Member[] = [];
  const roundRobin = new Map<string, number>();
  let closed = false;

  function deliver(member: Member, record: RawRecord): void {
    member.tail = member.tail.then(async () => {
      if (member.closed) return;
      try {
        await member.onRecord(record);
      } catch (err) {
        console.warn(`memory bus: subscriber failed on ${record.topic}: ${String(err)}`);
      }
    });
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
      const member: Member = { topics: new Set(topicNames), delivery, onRecord, tail: Promise.resolve(), closed: false };
      members.push(member);
      const subscription: Subscription = {
        async close() {
          member.closed = true;
          const i = members.indexOf(member);
          if (i >= 0) members.splice(i, 1);
          await member.tail;
        },
      };
      return subscription;
    },
    async close() {
      closed = true;
      await Promise.all([...members].map(async (m) => {
        m.closed = true;
        await m.tail;
      }));
      members.length = 0;
    },
  };
}
