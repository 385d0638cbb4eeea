#!/usr/bin/env -S node --import tsx
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { hostname } from "node:os";
import { openBus } from "../bus/open.js";
import { createDriver } from "../driver/agent/driver.js";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { DEFAULT_KEEP_TESTS, Orchestrator } from "../orchestrator/orchestrator.js";
import { TargetAllowlist } from "../orchestrator/allowlist.js";
import { startServer } from "../orchestrator/server.js";
import { createTarget, parseTargetArgs } from "../target/target.js";
import { startEmbedded } from "./embedded.js";
import { intFlag, specFlags, specFromFlags, threadsFlag, UsageError, type SpecValues } from "./spec-args.js";
import { allowedTargets, kafkaSecurity, kafkaSecurityFlags, tokenFrom } from "./secrets.js";
import { intervalsCsv, reportHtml, reportJson } from "./exports.js";
import { readSpecFile } from "./spec-file.js";
import { EXIT, exitCodeOf, judgingFlags, judgingFrom, runTest, type OrchestratorClient } from "./run-test.js";

const USAGE = `usage: kannon <command> [flags]
  run           one-process fleet (target, orchestrator, drivers) over the in-process bus; runs a test and prints the report
                  --drivers N (3) --workload avalanche|tsunami|arrival-rate (avalanche) --url URL (the built-in target's /ping)
                  --method M --concurrency N (10) --requests N per driver (1000) | --duration-ms N --delay-ms N (10)
                  --rate R fleet-wide req/s (100) --max-in-flight N --interval-ms N (500) --timeout-ms N (10000)
                  --pipelining N (avalanche: requests in flight per connection, for targets that support HTTP/1.1 pipelining)
                  --port N (API port; a free one by default) --stay (keep the fleet up after the test)
                  --threads N (1..64, load threads per driver; each driver's load runs off the main thread)
  test          one test on a running orchestrator: --api URL (KANNON_API, default http://127.0.0.1:8080) --token-file F --url TARGET
                  and the same test flags as run (--drivers 0 = every ready driver); Ctrl-C cancels the test
                  --out FILE (run and test) writes the full report as JSON
                  -f FILE (run and test): the test from a YAML or JSON file of TestSpec fields (proto JSON names) and thresholds
  orchestrator  the control plane   --kafka host:port --topic-prefix P --data DIR --host H --port N --token-file F --cors-origin O
                  --allow-target HOST[:PORT] (repeatable; tests aimed elsewhere are refused; default: any target)
                  --kafka-partitions N (1; topics created or grown to N partitions) --keep-tests N (${DEFAULT_KEEP_TESTS}; older tests deleted)
                  refuses to start while another orchestrator consumes the same topic prefix
  report ID     a stored test's report: --format json|csv|html (json) --out FILE (stdout) --api URL --token-file F
                  csv: one row per interval (every interval); html: one self-contained file with charts and tables
  driver        one driver          --kafka host:port --topic-prefix P --id ID --address A
                  --threads N (1..64, default 1): load threads, each with its own connections; one driver to the fleet
  Kafka security (orchestrator and driver): --kafka-tls, --kafka-ca-file PEM, --kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512,
                  --kafka-username U (KANNON_KAFKA_USERNAME), the password in KANNON_KAFKA_PASSWORD or --kafka-password-file F
  target        the HTTP target     --port N --host H
Environment: KANNON_API, KANNON_KAFKA, KANNON_TOPIC_PREFIX, KANNON_KAFKA_PARTITIONS, KANNON_TOKEN, KANNON_DATA, KANNON_ALLOW_TARGETS.
The token: KANNON_TOKEN or --token-file FILE (--token T still works, but shows in the process list).
Thresholds (run and test): --threshold 'p99<200ms' (repeatable; p50 p90 p95 p99 p99.9 max mean in us/ms/s,
                  error_rate<1%, errors, requests, rps>=500), judged on the fleet's merged numbers live and at the end;
                  --abort-on-fail cancels the test at the first breach of an upper bound.
Exit codes: 0 ok, 1 unexpected failure, 2 bad command line, 3 test not completed, 4 requests failed, 5 a driver was lost,
            99 a threshold failed.`;

/** Flags of a remote orchestrator's API. */
const apiFlags = { api: { type: "string" }, token: { type: "string" }, "token-file": { type: "string" } } as const;

/** A client of the orchestrator at --api (KANNON_API), with the bearer token if one is given. */
function apiClient(values: { api?: string | undefined; token?: string | undefined; "token-file"?: string | undefined }): OrchestratorClient {
  const token = tokenFrom(values);
  return createClient(
    OrchestratorService,
    createConnectTransport({
      baseUrl: values.api ?? process.env.KANNON_API ?? "http://127.0.0.1:8080",
      httpVersion: "1.1",
      interceptors: token
        ? [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${token}`);
              return next(req);
            },
          ]
        : [],
    }),
  );
}

/** Writes `text` to `file` when one was asked for (--out). */
function writeOut(file: string | undefined, text: string): void {
  if (!file) return;
  writeFileSync(file, text);
  console.log(`kannon: wrote ${file}`);
}

/** `kannon report ID --format json|csv|html [--out FILE]`: exports a stored report. */
async function report(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...apiFlags, format: { type: "string" }, out: { type: "string" } },
    strict: true,
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError("kannon report takes one test id: kannon report ID --format json|csv|html [--out FILE]");
  const format = values.format ?? "json";
  if (!["json", "csv", "html"].includes(format)) throw new UsageError(`--format must be json, csv or html, not "${format}"`);
  const client = apiClient(values);
  const { report } = await client.getReport({ testId: id });
  let text: string;
  if (format === "json") text = reportJson(report!);
  else if (format === "html") text = reportHtml(report!, report!.intervals);
  else {
    // Every interval at full resolution, page by page (the report's own series may be downsampled).
    const all: Stats[] = [];
    let pageToken = "";
    do {
      const page = await client.listIntervals({ testId: id, pageSize: 10_000, pageToken });
      all.push(...page.intervals);
      pageToken = page.nextPageToken;
    } while (pageToken);
    text = intervalsCsv(all);
  }
  if (values.out) writeOut(values.out, text);
  else process.stdout.write(text);
  return EXIT.ok;
}

/** A test given in a spec file (YAML or JSON) instead of flags. */
const fileFlags = { file: { type: "string", short: "f" } } as const;

/** With -f, the test's own flags would be ignored: refuse them instead (except `allowed`). */
function refuseSpecFlags(values: Record<string, unknown>, allowed: string[]): void {
  const given = Object.keys(specFlags).filter((k) => values[k] !== undefined && !allowed.includes(k));
  if (given.length > 0) throw new UsageError(`the test is in -f ${String(values.file)}: drop ${given.map((k) => `--${k}`).join(", ")} (or put them in the file)`);
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...specFlags, ...judgingFlags, ...fileFlags, port: { type: "string" }, stay: { type: "boolean" }, out: { type: "string" }, threads: { type: "string" } },
    strict: true,
  });
  const drivers = intFlag(values, "drivers", 3);
  if (drivers < 1) throw new UsageError("--drivers must be at least 1");
  const threads = threadsFlag(values);
  // Flag and file mistakes surface before anything starts.
  const fromFile = values.file ? readSpecFile(values.file, "http://127.0.0.1/") : undefined;
  if (fromFile) refuseSpecFlags(values, ["drivers"]);
  else specFromFlags(values as SpecValues, "http://127.0.0.1/");
  const judging = judgingFrom(values, fromFile?.thresholds);
  const fleet = await startEmbedded({ drivers, threads, port: intFlag(values, "port", 0) });
  try {
    const client = createClient(OrchestratorService, createConnectTransport({ baseUrl: fleet.server.url, httpVersion: "1.1" }));
    const spec = fromFile
      ? readSpecFile(values.file!, `${fleet.target!.url}/ping`).spec
      : specFromFlags({ ...(values as SpecValues), drivers: String(drivers) }, `${fleet.target!.url}/ping`);
    console.log(
      `kannon: orchestrator at ${fleet.server.url}, target at ${fleet.target!.url}, ${drivers} drivers ` +
        `(in-process bus; each driver's load on ${threads === 1 ? "a worker thread" : `${threads} worker threads`})`,
    );
    const outcome = await runTest(client, spec, (l) => console.log(l), judging);
    writeOut(values.out, reportJson(outcome.report));
    if (values.stay) {
      console.log(`kannon: staying up; the API is at ${fleet.server.url} (Ctrl-C to stop)`);
      await untilSignal();
    }
    return exitCodeOf(outcome);
  } finally {
    await fleet.close();
  }
}

/** `kannon test`: runs one test on a running orchestrator (any fleet, any bus) and prints the report. */
async function test(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...specFlags, ...judgingFlags, ...apiFlags, ...fileFlags, out: { type: "string" } },
    strict: true,
  });
  const fromFile = values.file ? readSpecFile(values.file) : undefined;
  if (fromFile) refuseSpecFlags(values, []);
  else if (!values.url) throw new UsageError("--url is required: the target every request goes to (or give the test in -f FILE)");
  const spec = fromFile ? fromFile.spec : specFromFlags(values as SpecValues, values.url!);
  const judging = judgingFrom(values, fromFile?.thresholds);
  const client = apiClient(values);
  const outcome = await runTest(client, spec, (l) => console.log(l), judging);
  writeOut(values.out, reportJson(outcome.report));
  return exitCodeOf(outcome);
}

function busFlags(values: { kafka?: string | undefined; "topic-prefix"?: string | undefined; "kafka-partitions"?: string | undefined } & Parameters<typeof kafkaSecurity>[0]) {
  const partitions = intFlag({ "kafka-partitions": values["kafka-partitions"] ?? process.env.KANNON_KAFKA_PARTITIONS }, "kafka-partitions", 1);
  if (partitions < 1 || partitions > 1000) throw new UsageError(`--kafka-partitions must be between 1 and 1000, got ${partitions}`);
  return {
    kafka: values.kafka ?? process.env.KANNON_KAFKA,
    topicPrefix: values["topic-prefix"] ?? process.env.KANNON_TOPIC_PREFIX,
    partitions,
    ...kafkaSecurity(values),
  };
}

/** A graceful shutdown that takes longer is cut short: the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 8_000;

/**
 * Waits for SIGINT or SIGTERM, then shuts down gracefully within {@link SHUTDOWN_DEADLINE_MS}
 * (even with the broker unreachable); a second signal exits at once.
 */
async function serveUntilSignal(name: string, graceful: () => Promise<void>, what = "shutting down"): Promise<number> {
  const signal = await untilSignal();
  console.log(`${name}: ${signal}, ${what} (a second signal forces it)`);
  const force = (again: string) => {
    console.error(`${name}: ${again} again, exiting now`);
    process.exit(EXIT.failure);
  };
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    graceful().then(
      () => true,
      (err: unknown) => (console.error(`${name}: shutdown: ${err instanceof Error ? err.message : String(err)}`), true),
    ),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), SHUTDOWN_DEADLINE_MS))),
  ]);
  clearTimeout(timer);
  if (!finished) {
    console.error(`${name}: shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s (is the broker reachable?); exiting anyway`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}

async function orchestrator(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kafka: { type: "string" },
      "topic-prefix": { type: "string" },
      "kafka-partitions": { type: "string" },
      ...kafkaSecurityFlags,
      "keep-tests": { type: "string" },
      data: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      "cors-origin": { type: "string", multiple: true },
      "allow-target": { type: "string", multiple: true },
    },
    strict: true,
  });
  const token = tokenFrom(values);
  if (values.host && !["127.0.0.1", "::1", "localhost"].includes(values.host) && !token)
    throw new UsageError(`--host ${values.host} is off loopback: give KANNON_TOKEN or --token-file FILE so that only bearers of the token can start load`);
  const bf = busFlags(values);
  const allowTargets = allowedTargets(values["allow-target"]);
  try {
    new TargetAllowlist(allowTargets);
  } catch (err) {
    throw new UsageError(`--allow-target / KANNON_ALLOW_TARGETS: ${(err as Error).message}`);
  }
  const keepTests = intFlag(values, "keep-tests", DEFAULT_KEEP_TESTS);
  if (keepTests < 1) throw new UsageError("--keep-tests must be at least 1");
  if (!bf.kafka) console.warn("kannon orchestrator: no --kafka given: using the in-process bus, which no separate driver can reach");
  const bus = await openBus({ ...bf, clientId: "kannon-orchestrator" });
  let o: Orchestrator;
  try {
    o = await Orchestrator.open({
      bus,
      dataDir: values.data ?? process.env.KANNON_DATA ?? ".kannon/data",
      keepTests,
      allowTargets,
    });
  } catch (err) {
    await bus.close();
    throw err;
  }
  const server = await startServer({
    orchestrator: o,
    host: values.host,
    port: intFlag(values, "port", 8080),
    token,
    corsOrigins: values["cors-origin"],
  });
  console.log(`kannon orchestrator listening on ${server.url} (gRPC h2c, Connect, gRPC-Web)${bf.kafka ? `, Kafka ${bf.kafka}` : ""}`);
  return serveUntilSignal("kannon orchestrator", async () => {
    await server.close();
    await o.close();
    await bus.close();
  });
}

async function driver(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kafka: { type: "string" },
      "topic-prefix": { type: "string" },
      ...kafkaSecurityFlags,
      id: { type: "string" },
      address: { type: "string" },
      threads: { type: "string" },
    },
    strict: true,
  });
  const threads = threadsFlag(values);
  const bf = busFlags(values);
  if (!bf.kafka) throw new UsageError("--kafka host:port (or KANNON_KAFKA) is required: a separate driver reaches the orchestrator only through Kafka");
  // Only the orchestrator sizes the topics: a driver that grew them could make the others skip records.
  const bus = await openBus({ ...bf, partitions: undefined, clientId: values.id ?? "kannon-driver" });
  let refusal: ((reason: string) => void) | undefined;
  const refused = new Promise<string>((resolve) => (refusal = resolve));
  const d = createDriver({ bus, id: values.id, address: values.address ?? hostname(), threads, onRefused: (reason) => refusal?.(reason) });
  void refused.then(async (reason) => {
    console.error(`kannon driver ${d.id}: refused by the orchestrator: ${reason}`);
    await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 3000))]);
    process.exit(EXIT.failure);
  });
  await d.start();
  console.log(`kannon driver ${d.id} joined the fleet over Kafka ${bf.kafka}${threads > 1 ? ` (${threads} load threads)` : ""}`);
  return serveUntilSignal(`kannon driver ${d.id}`, async () => {
    // Leaves room within the shutdown deadline to flush the final metrics and say it is leaving.
    await d.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS / 2 });
    await bus.close();
  }, "leaving the fleet");
}

async function target(argv: string[]): Promise<number> {
  const t = await createTarget(parseTargetArgs(argv));
  console.log(`kannon target listening on ${t.url}`);
  return serveUntilSignal("kannon target", () => t.close());
}

const commands: Record<string, (argv: string[]) => Promise<number>> = { run, test, report, orchestrator, driver, target };

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(USAGE);
    process.exit(EXIT.ok);
  }
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(USAGE);
    process.exit(EXIT.ok);
  }
  const command = name ? commands[name] : undefined;
  if (!command) {
    console.error(name ? `kannon: unknown command "${name}"\n${USAGE}` : USAGE);
    process.exit(EXIT.usage);
  }
  try {
    process.exit(await command(rest));
  } catch (err) {
    const usage =
      err instanceof UsageError ||
      (err instanceof ConnectError && (err.code === Code.InvalidArgument || err.code === Code.NotFound)) ||
      String((err as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS");
    const notRun = err instanceof ConnectError && err.code === Code.FailedPrecondition;
    console.error(`kannon ${name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(usage ? EXIT.usage : notRun ? EXIT.testNotCompleted : EXIT.failure);
  }
}

await main();
