import { defineConfig } from "vitest/config";

/** Never test files: dependencies, and the bench (its own command, npm run bench). */
const never = ["node_modules/**", "bench/**"];
/**
 * Tests that run drivers for seconds in real time against a local target, over the in-process bus (no
 * broker): the driver agent and its load threads, the open model, the scenario cases on an embedded fleet,
 * and the orchestrator handing data files to real drivers (100 ms heartbeats: one file at a time).
 */
const integration = ["driver/agent/**/*.test.ts", "driver/load/threads.test.ts", "driver/load/open-model.test.ts", "driver/scenario/scenario-load.test.ts", "test/scenarios-in-process.test.ts", "test/rpc-in-process.test.ts", "orchestrator/data-start.test.ts", "test/compare-runs.test.ts"];
/** The browser tests: real Chromium (test/chromium-global-setup.ts provides it). */
const browser = ["test/dashboard.test.ts", "test/dashboard-compare.test.ts", "test/dashboard-spec-files.test.ts"];

/**
 * Four projects; `npm test` runs them all, `vitest run --project NAME` one. A project's globalSetup
 * runs only when one of its files is selected, so `npx vitest run metrics/` starts no broker.
 * - unit: every `*.test.ts` beside the code it tests (outside test/), but the integration files and
 *   those that need a Kafka broker (`kafka*.test.ts`): no broker, Python, browser or timing bound;
 *   3 files at a time. `npm run test:unit`.
 * - integration: the driver agent, its load threads, the open model and the scenario cases over the in-process bus, in real time.
 * - e2e: test/ (end-to-end over the real broker and the Python venv) and the Kafka bus tests.
 * - browser: the dashboard in real Chromium. `npm run screenshots` refreshes docs/screenshots from it.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The machine has 2 cores and the timed suites start processes and load: keep their files from
    // starving each other. Projects without file parallelism run one file at a time, after the unit files.
    fileParallelism: false,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: [...never, ...integration, ...browser, "test/**", "**/kafka*.test.ts"],
          fileParallelism: true,
          maxWorkers: 3,
        },
      },
      { extends: true, test: { name: "integration", include: integration, exclude: never } },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts", "**/kafka*.test.ts"],
          exclude: [...never, ...browser, ...integration],
          // One real Kafka broker for the whole run; end-to-end suites read its address with inject("kafkaBootstrap").
          // The Python venv (python/requirements.txt), read with inject("python").
          globalSetup: ["test/kafka-global-setup.ts", "test/python-global-setup.ts"],
        },
      },
      {
        extends: true,
        test: { name: "browser", include: browser, exclude: never, globalSetup: ["test/chromium-global-setup.ts"] },
      },
    ],
  },
});
