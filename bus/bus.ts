import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Topic, TopicMessage } from "./topics.js";
import { topics } from "./topics.js";

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
export type Delivery = { kind: "shared"; group: string } | { kind: "broadcast"; id: string };

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
  /** Closes every producer and subscriber. */
  close(): Promise<void>;
}

/** A live subscription. */
export interface Subscription {
  close(): Promise<void>;
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
  /** Subscribes the handlers to their topics. */
  subscribe(delivery: Delivery, handlers: Handlers): Promise<Subscription>;
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
  return {
    stats,
    async publish(topic, key, message) {
      const value = toBinary(topics[topic], message as never);
      await transport.send([{ topic, key, value }]);
      stats.published++;
    },
    async subscribe(delivery, handlers) {
      const names = (Object.keys(handlers) as Topic[]).filter((t) => handlers[t] !== undefined);
      return transport.subscribe(names, delivery, async (record) => {
        let message: unknown;
        try {
          message = fromBinary(topics[record.topic], record.value);
        } catch (err) {
          stats.undecodable++;
          log(`bus: skipped an undecodable ${record.topic} record (key ${record.key}, ${record.value.length} bytes): ${String(err)}`);
          return;
        }
        stats.delivered++;
        const handler = handlers[record.topic] as ((m: unknown, k: string) => Promise<void> | void) | undefined;
        try {
          await handler?.(message, record.key);
        } catch (err) {
          stats.handlerErrors++;
          log(`bus: handler for ${record.topic} (key ${record.key}) failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        }
      });
    },
    close: () => transport.close(),
  };
}
