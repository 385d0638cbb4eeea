import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Topic, TopicMessage } from "./topics.js";
import { topics } from "./topics.js";
import { swallowed } from "../metrics/swallowed.js";

/** A raw record as it travels on a transport: topic, key, protobuf bytes. */
export interface RawRecord {
  topic: Topic;
  key: string;
  value: Uint8Array;
}

/**
 * How a subscriber shares messages with others:
 * - `shared`: one member of the named group receives each message (the orchestrator's consumers);
 * - `broadcast`: this subscriber receives every message (each driver).
 */
export type Delivery = { kind: "shared"; group: string; exclusive?: boolean } | { kind: "broadcast"; id: string };

/**
 * The subscription of an `exclusive` shared group found another live member: a second process is
 * consuming the same topics under the same prefix (e.g. two orchestrators), which would silently
 * split the fleet's messages between them.
 */
export class GroupInUseError extends Error {}

/** A byte-level data plane. The in-process and Kafka transports implement it; nothing else sees them. */
export interface Transport {
  /** Publishes records; resolves once the transport has accepted them (acknowledged by Kafka). */
  send(records: RawRecord[]): Promise<void>;
  /**
   * Subscribes to topics; resolves once the subscriber is positioned, so that every record sent
   * after it resolves is delivered. `onRecord` is awaited before the next record of the same topic.
   */
  subscribe(
    topicNames: readonly Topic[],
    delivery: Delivery,
    onRecord: (record: RawRecord) => Promise<void> | void,
  ): Promise<Subscription>;
  /**
   * Like `subscribe`, but hands over what arrived together (a Kafka fetch batch, or what queued up
   * in process) in one call; the next batch waits for it. A batch that throws is logged and
   * skipped, never redelivered forever.
   */
  subscribeBatch(
    topicNames: readonly Topic[],
    delivery: Delivery,
    onRecords: (records: RawRecord[]) => Promise<void> | void,
  ): Promise<Subscription>;
  /** Closes every producer and subscriber. */
  close(): Promise<void>;
}

/**
 * A batch handler that hands each record to `onRecord` in turn: how a transport implements
 * `subscribe` over its batches. A record `onRecord` fails on is logged, counted under `where` and
 * skipped.
 */
export function eachRecord(
  onRecord: (record: RawRecord) => Promise<void> | void,
  where: string,
  log?: (message: string) => void,
): (records: RawRecord[]) => Promise<void> {
  return async (records) => {
    for (const record of records) {
      try {
        await onRecord(record);
      } catch (err) {
        swallowed(where, `${where}: the subscriber of ${record.topic} failed on a record (key ${record.key}): ${String(err)}; it is skipped`, log);
      }
    }
  };
}

/** A live subscription. */
export interface Subscription {
  close(): Promise<void>;
  /**
   * Epoch ms of this subscriber's last successful poll of the broker, for transports that can
   * lose it (Kafka); undefined for the in-process bus, which is always reachable. Silence from
   * publishers proves nothing while this is stale.
   */
  lastPollAt?(): number;
  /**
   * An instant such that everything published before it has been delivered to this subscriber
   * and handled (epoch ms; 0 before the first time it catches up), for transports that can lag
   * (Kafka, where it moves only on evidence: the partitions' high watermarks, read after the
   * instant, reached by the offsets handled); undefined for the in-process bus, which is always
   * caught up.
   */
  caughtUpAt?(): number;
}

/** One decoded message of a batch, with its raw bytes (to store as received). */
export interface Delivered<M> {
  message: M;
  key: string;
  value: Uint8Array;
}

/** A typed message handler per topic. */
export type Handlers = { [T in Topic]?: (message: TopicMessage<T>, key: string) => Promise<void> | void };

/** Counters every bus keeps, for logs and tests. */
export interface BusStats {
  published: number;
  delivered: number;
  /** Records that did not decode as their topic's message type: counted and skipped. */
  undecodable: number;
  /** Handlers that threw: logged, counted, and the record skipped. */
  handlerErrors: number;
}

/** The typed data plane the orchestrator and drivers use. */
export interface Bus {
  /** Publishes one message on a topic under a key. */
  publish<T extends Topic>(topic: T, key: string, message: TopicMessage<T>): Promise<void>;
  /**
   * Publishes one message already encoded as the topic's message type (for a message its producer
   * writes faster than the generic encoder: the chunks of data files).
   */
  publishEncoded(topic: Topic, key: string, value: Uint8Array): Promise<void>;
  /** Subscribes the handlers to their topics. */
  subscribe(delivery: Delivery, handlers: Handlers): Promise<Subscription>;
  /**
   * Subscribes one handler to one topic's batches (see {@link Transport.subscribeBatch}); records
   * that do not decode are counted and left out of the batch.
   */
  subscribeBatch<T extends Topic>(delivery: Delivery, topic: T, handler: (batch: Delivered<TopicMessage<T>>[]) => Promise<void> | void): Promise<Subscription>;
  readonly stats: BusStats;
  close(): Promise<void>;
}

/** Options of {@link createBus}. */
export interface BusOptions {
  /** Where problems with single records are reported; defaults to console.warn. */
  log?: (message: string) => void;
}

/** Wraps a byte-level transport in the typed bus: binary protobuf on every topic. */
export function createBus(transport: Transport, options: BusOptions = {}): Bus {
  const log = options.log ?? ((m: string) => console.warn(m));
  const stats: BusStats = { published: 0, delivered: 0, undecodable: 0, handlerErrors: 0 };
  const publishEncoded = async (topic: Topic, key: string, value: Uint8Array) => {
    await transport.send([{ topic, key, value }]);
    stats.published++;
  };
  return {
    stats,
    publish: (topic, key, message) => publishEncoded(topic, key, toBinary(topics[topic], message as never)),
    publishEncoded,
    async subscribe(delivery, handlers) {
      const names = (Object.keys(handlers) as Topic[]).filter((t) => handlers[t] !== undefined);
      return transport.subscribe(names, delivery, async (record) => {
        const message = decode(record);
        if (message === undefined) return;
        const handler = handlers[record.topic] as ((m: unknown, k: string) => Promise<void> | void) | undefined;
        try {
          await handler?.(message, record.key);
        } catch (err) {
          stats.handlerErrors++;
          swallowed("bus.handler", `bus: handler for ${record.topic} (key ${record.key}) failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, log);
        }
      });
    },
    subscribeBatch(delivery, topic, handler) {
      return transport.subscribeBatch([topic], delivery, async (records) => {
        const batch: Delivered<never>[] = [];
        for (const r of records) {
          const message = decode(r);
          if (message !== undefined) batch.push({ message: message as never, key: r.key, value: r.value });
        }
        if (batch.length === 0) return;
        try {
          await handler(batch);
        } catch (err) {
          stats.handlerErrors++;
          swallowed("bus.batch_handler", `bus: batch handler for ${topic} (${batch.length} records) failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, log);
        }
      });
    },
    close: () => transport.close(),
  };

  function decode(record: RawRecord): unknown {
    try {
      const message = fromBinary(topics[record.topic], record.value);
      stats.delivered++;
      return message;
    } catch (err) {
      stats.undecodable++;
      swallowed(
        "bus.undecodable",
        `bus: skipped an undecodable ${record.topic} record (key ${record.key}, ${record.value.length} bytes): ${String(err)}`,
        log,
      );
      return undefined;
    }
  }
}
