/** `kannon run` (a one-process fleet) and `kannon test` (a running orchestrator): one test each, from flags or a spec file. */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { intFlag, parseFlags, UsageError } from "./args.js";
import { apiClient, apiFlags, explainUnreachable } from "./api-client.js";
import { lockDataDir } from "./data-lock.js";
import type { Command } from "./help.js";
import { outcomeJson, writeOut } from "./out-json.js";
import { exitCodeOf, judgingFlags, runTest, withJudging } from "./run-test.js";
import { untilSignal } from "./signals.js";
import { readSpecFile } from "./spec-file.js";
import { checkUrl, SPEC_FLAG_NAMES, specFlags, specFromFlags, threadsFlag, type SpecValues } from "./spec-args.js";
import { plural } from "./summary.js";

/** Flags of both commands besides the test's own. */
const common = {
  file: { type: "string", short: "f", value: "FILE", help: "the test from a YAML or JSON file of TestSpec fields and thresholds (instead of the test's flags)" },
  out: { type: "string", short: "o", value: "FILE", help: "write the full report and the thresholds' verdicts as JSON" },
  ...judgingFlags,
} as const;

/** With -f, the test's own flags would be ignored: refuse them instead (except `allowed`). */
function refuseSpecFlags(values: Record<string, unknown>, allowed: string[]): void {
  const given = SPEC_FLAG_NAMES.filter((k) => values[k] !== undefined && !allowed.includes(k));
  if (given.length > 0) throw new UsageError(`the test is in -f ${String(values.file)}: drop ${given.map((k) => `--${k}`).join(", ")} (or put them in the file)`);
}

/**
 * The test of -f FILE or of the flags, checked (a usage error names every problem). With -f,
 * `--url` gives the target of a file that has no targetUrl (the same file against any target).
 */
function specOf(values: SpecValues & { file?: string | undefined }, defaultUrl: string, allowed: string[]): { spec: TestSpec; thresholds: string[] } {
  if (!values.file) return { spec: specFromFlags(values, defaultUrl), thresholds: [] };
  refuseSpecFlags(values, [...allowed, "url"]);
  if (values.url !== undefined) checkUrl(values.url);
  const read = readSpecFile(values.file, values.url ?? defaultUrl);
  if (values.url !== undefined && read.spec.targetUrl !== values.url)
    throw new UsageError(`-f ${values.file} has its own targetUrl (${read.spec.targetUrl}): drop --url, or targetUrl from the file`);
  return read;
}

const runFlags = {
  ...specFlags,
  url: { ...specFlags.url, default: "the built-in target's /ping" },
  drivers: { ...specFlags.drivers, default: "3" },
  threads: { type: "string", value: "N", help: "load threads per driver (1..64); each driver's load runs off the main thread", default: "1" },
  ...common,
  data: { type: "string", value: "DIR", help: "keep the test and its report in DIR, for kannon report and kannon tests after the run", default: "a temporary folder, deleted at exit" },
  port: { type: "string", value: "N", help: "the API's (and dashboard's) port", default: "a free one" },
  stay: { type: "boolean", help: "keep the fleet, API and dashboard up after the test (Ctrl-C to stop)" },
} as const;

/** `kannon run`: target, orchestrator and drivers in this process, one test, the report. */
export const runCommand: Command = {
  name: "run",
  summary: "a one-process fleet (target, orchestrator, drivers over the in-process bus): runs one test and prints the report",
  flags: runFlags,
  notes: ["Ctrl-C cancels the test; the report still comes. kannon run --data DIR keeps it for: kannon report ID --data DIR."],
  async run(argv) {
    const { values } = parseFlags(argv, runFlags, "run");
    const drivers = intFlag(values, "drivers", 3);
    if (drivers < 1) throw new UsageError("--drivers must be at least 1");
    const threads = threadsFlag(values);
    const port = intFlag(values, "port", 0);
    // Every mistake in the flags or the file surfaces before anything starts.
    withJudging(specOf(values, "http://127.0.0.1/", ["drivers"]).spec, values);
    const unlock = values.data ? lockDataDir(values.data, "kannon run") : () => undefined;
    // Loaded only now: a mistake in the flags is answered without loading the fleet's code.
    const { startEmbedded } = await import("./embedded.js");
    const fleet = await startEmbedded({ drivers, threads, port, dataDir: values.data }).catch((err: unknown) => {
      unlock();
      throw err;
    });
    try {
      const client = createClient(OrchestratorService, createConnectTransport({ baseUrl: fleet.server.url, httpVersion: "1.1" }));
      const spec = withJudging(specOf({ ...values, drivers: values.file ? undefined : String(drivers) }, `${fleet.target!.url}/ping`, ["drivers"]).spec, values);
      // An avalanche runs on one thread per connection at most (driver/load/load.ts).
      const { loadThreadsFor } = await import("../driver/load/load.js");
      const used = loadThreadsFor(spec, threads);
      const load = threads === 1 ? "a worker thread" : `${threads} worker threads${used < threads ? `, ${used} for this test (one per connection at most)` : ""}`;
      console.log(`kannon: orchestrator at ${fleet.server.url}, target at ${fleet.target!.url}, ${plural(drivers, "driver")} (in-process bus; each driver's load on ${load})`);
      const outcome = await runTest(client, spec, (l) => console.log(l));
      writeOut(values.out, outcomeJson(outcome));
      const id = outcome.report.testId;
      if (values.data) console.log(`kannon: kept in ${values.data}; export it with: kannon report ${id} --data ${values.data} (--format csv|html, --out FILE; kannon tests --data ${values.data} lists the tests)`);
      if (values.stay) {
        console.log(`kannon: staying up; the API is at ${fleet.server.url} and the dashboard at ${fleet.server.url}/ (kannon report ${id} --api ${fleet.server.url}); Ctrl-C to stop`);
        await untilSignal();
      } else if (!values.data) console.log("kannon: the store of this run is temporary and goes at exit: --data DIR keeps it for kannon report (--out FILE writes the JSON now)");
      return exitCodeOf(outcome);
    } finally {
      await fleet.close();
      unlock();
    }
  },
};

const testFlags = {
  ...specFlags,
  url: { ...specFlags.url, help: `${specFlags.url.help} (required without -f; with -f, the target of a file without targetUrl)` },
  drivers: { ...specFlags.drivers, default: "every ready driver" },
  ...common,
  ...apiFlags,
} as const;

/** `kannon test`: one test on a running orchestrator (any fleet, any bus). */
export const testCommand: Command = {
  name: "test",
  summary: "one test on a running orchestrator (--api): prints its intervals and report; Ctrl-C cancels it",
  flags: testFlags,
  async run(argv) {
    const { values } = parseFlags(argv, testFlags, "test");
    if (!values.file && !values.url) throw new UsageError("--url is required: the target every request goes to (or give the test in -f FILE)");
    const spec = withJudging(specOf(values, values.url ?? "", []).spec, values);
    const client = apiClient(values);
    try {
      const outcome = await runTest(client, spec, (l) => console.log(l));
      writeOut(values.out, outcomeJson(outcome));
      console.log(`kannon: export it with: kannon report ${outcome.report.testId}${values.api ? ` --api ${values.api}` : ""} (--format csv|html, --out FILE)`);
      return exitCodeOf(outcome);
    } catch (err) {
      throw explainUnreachable(err, values, "start one (kannon orchestrator) or give --api URL; kannon run runs a test with no orchestrator");
    }
  },
};
