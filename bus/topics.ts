import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  DataChunkMessageSchema,
  DataReadyMessageSchema,
  HeartbeatMessageSchema,
  MetricsMessageSchema,
  RegisterMessageSchema,
  TestConfigMessageSchema,
  TriggerMessageSchema,
} from "../gen/kannon/v1/bus_pb.js";

/** The data-plane topics and the one message type each carries. */
export const topics = {
  register: RegisterMessageSchema,
  heartbeat: HeartbeatMessageSchema,
  test_config: TestConfigMessageSchema,
  trigger: TriggerMessageSchema,
  metrics: MetricsMessageSchema,
  data: DataChunkMessageSchema,
  data_ready: DataReadyMessageSchema,
} as const;

/** A data-plane topic name (without any prefix). */
export type Topic = keyof typeof topics;

/** The message type carried by topic `T`. */
export type TopicMessage<T extends Topic> = MessageShape<(typeof topics)[T]>;

/** Every topic name, in a stable order. */
export const allTopics = Object.keys(topics) as Topic[];

/** Topics drivers publish and the orchestrator consumes (keyed by driver id). */
export const driverTopics = ["register", "heartbeat", "metrics", "data_ready"] as const satisfies readonly Topic[];

/** Topics the orchestrator publishes and every driver consumes (keyed by test id). */
export const fleetTopics = ["test_config", "trigger", "data"] as const satisfies readonly Topic[];

/** The schema of a topic, for encoding and decoding. */
export function schemaOf<T extends Topic>(topic: T): DescMessage {
  return topics[topic];
}
