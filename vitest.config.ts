import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "bench/**"],
    // One real Kafka broker for the whole run; end-to-end suites read its address with inject("kafkaBootstrap").
    // The Python venv (python/requirements.txt), read with inject("python").
    globalSetup: ["test/kafka-global-setup.ts", "test/python-global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The machine has 2 cores and the suites start processes and load: keep files from starving each other.
    fileParallelism: false,
  },
});
