/**
 * vitest globalSetup: one real Kafka broker for the whole run (the official jars, no Docker),
 * provided to test files as `inject("kafkaBootstrap")`. With KANNON_TEST_KAFKA=host:port the tests
 * use that broker instead and nothing is started.
 */
import type { TestProject } from "vitest/node";
import { startKafka } from "../scripts/kafka-broker.js";

declare module "vitest" {
  export interface ProvidedContext {
    kafkaBootstrap: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.KANNON_TEST_KAFKA?.trim();
  if (external) {
    project.provide("kafkaBootstrap", external);
    return undefined;
  }
  const broker = await startKafka({ log: (m) => process.stderr.write(`${m}\n`) });
  project.provide("kafkaBootstrap", broker.bootstrap);
  return async () => {
    await broker.stop();
  };
}
