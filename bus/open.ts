import { createBus, type Bus } from "./bus.js";
import { createMemoryTransport } from "./memory.js";
import type { Transport } from "./bus.js";
import type { KafkaSasl } from "./kafka.js";

/** Where a process finds its data plane. */
export interface BusConfig {
  /** Kafka bootstrap servers, comma-separated `host:port`; absent means the in-process bus. */
  kafka?: string | undefined;
  /** Prefix for every Kafka topic name, so that two fleets can share a cluster. */
  topicPrefix?: string | undefined;
  /** TLS to the brokers (Kafka only). */
  tls?: boolean | { ca: string[] } | undefined;
  /** SASL credentials (Kafka only). */
  sasl?: KafkaSasl | undefined;
  /** Partitions of the topics this process creates (Kafka only; default 1). */
  partitions?: number | undefined;
  /** A client id for logs on the broker. */
  clientId?: string | undefined;
  /** The in-process transport to share; created when absent. */
  memory?: Transport | undefined;
  log?: ((message: string) => void) | undefined;
}

/** Opens the bus the config names: Kafka when `kafka` is set, else the in-process transport. */
export async function openBus(config: BusConfig = {}): Promise<Bus> {
  const log = config.log ?? ((m: string) => console.warn(m));
  if (config.kafka) {
    const { createKafkaTransport } = await import("./kafka.js");
    const transport = await createKafkaTransport({
      brokers: config.kafka.split(",").map((s) => s.trim()).filter(Boolean),
      topicPrefix: config.topicPrefix ?? "",
      clientId: config.clientId ?? "kannon",
      partitions: config.partitions,
      tls: config.tls,
      sasl: config.sasl,
      log,
    });
    return createBus(transport, { log });
  }
  return createBus(config.memory ?? createMemoryTransport(), { log });
}
