/** The long-running commands: `kannon orchestrator`, `kannon driver` and `kannon target`, up until a signal. */
import { hostname } from "node:os";
import { openBus } from "../bus/open.js";
import { createDriver } from "../driver/agent/driver.js";
import { TargetAllowlist } from "../orchestrator/allowlist.js";
import { DEFAULT_KEEP_TESTS, Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer } from "../orchestrator/server.js";
import { createTarget, parseTargetArgs } from "../target/target.js";
import { intFlag, parseFlags, UsageError } from "./args.js";
import type { Command } from "./help.js";
import { EXIT } from "./run-test.js";
import { lockDataDir } from "./data-lock.js";
import { untilSignal } from "./signals.js";
import { allowedTargets, kafkaSecurity, kafkaSecurityFlags, tokenFrom } from "./secrets.js";
import { threadsFlag } from "./spec-args.js";

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

const busFlagTable = {
  kafka: { type: "string", value: "HOST:PORT", help: "the Kafka bootstrap broker (KANNON_KAFKA)" },
  "topic-prefix": { type: "string", value: "P", help: "the prefix of this fleet's topics (KANNON_TOPIC_PREFIX)", default: "none" },
  ...kafkaSecurityFlags,
} as const;

function busFlags(values: { kafka?: string | undefined; "topic-prefix"?: string | undefined; "kafka-partitions"?: string | undefined } & Parameters<typeof kafkaSecurity>[0]) {
  const partitions = intFlag({ "kafka-partitions": values["kafka-partitions"] ?? process.env.KANNON_KAFKA_PARTITIONS }, "kafka-partitions", 1);
  if (partitions < 1 || partitions > 1000) throw new UsageError(`--kafka-partitions must be between 1 and 1000, got ${partitions}`);
  const kafka = values.kafka ?? process.env.KANNON_KAFKA;
  // Set but empty is a deployment's missing setting (an image or unit declares KANNON_KAFKA empty), never the in-process bus.
  if (kafka !== undefined && !kafka.trim())
    throw new UsageError(`${values.kafka !== undefined ? "--kafka" : "KANNON_KAFKA"} is empty: set KANNON_KAFKA (or --kafka) to the Kafka bootstrap HOST:PORT`);
  return {
    kafka,
    topicPrefix: values["topic-prefix"] ?? process.env.KANNON_TOPIC_PREFIX,
    partitions,
    ...kafkaSecurity(values),
  };
}

const orchestratorFlags = {
  ...busFlagTable,
  "kafka-partitions": { type: "string", value: "N", help: "topics created or grown to N partitions (KANNON_KAFKA_PARTITIONS)", default: "1" },
  data: { type: "string", value: "DIR", help: "the LMDB store of tests and reports (KANNON_DATA)", default: ".kannon/data" },
  "keep-tests": { type: "string", value: "N", help: "tests kept; older ones are deleted", default: String(DEFAULT_KEEP_TESTS) },
  host: { type: "string", value: "H", help: "the API's address; off loopback it needs a token", default: "127.0.0.1" },
  port: { type: "string", value: "N", help: "the API's port", default: "8080" },
  "token-file": { type: "string", value: "FILE", help: "only bearers of this token may call the API (or KANNON_TOKEN)" },
  token: { type: "string", value: "T", help: "the token itself (shows in the process list)" },
  "cors-origin": { type: "string", multiple: true, value: "O", help: "a browser origin allowed to call the API (repeatable)" },
  "allow-target": { type: "string", multiple: true, value: "HOST[:PORT]", help: "tests aimed elsewhere are refused (repeatable; KANNON_ALLOW_TARGETS)", default: "any target" },
  "default-target": { type: "string", value: "URL", help: "the target URL the dashboard's new-test form offers (ListDrivers' default_target_url)", default: "none: the form's field is empty" },
} as const;

/** `kannon orchestrator`: the control plane. */
export const orchestratorCommand: Command = {
  name: "orchestrator",
  summary: "the control plane: API, dashboard, tests and reports; drivers join it over Kafka",
  flags: orchestratorFlags,
  notes: ["It refuses to start while another orchestrator consumes the same topic prefix."],
  async run(argv) {
    const { values } = parseFlags(argv, orchestratorFlags, "orchestrator");
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
    const defaultTargetUrl = values["default-target"];
    if (defaultTargetUrl !== undefined && !/^https?:\/\/[^/\s]+/.test(defaultTargetUrl))
      throw new UsageError(`--default-target must be an http:// or https:// URL, such as http://127.0.0.1:8081/ping, not "${defaultTargetUrl}"`);
    const keepTests = intFlag(values, "keep-tests", DEFAULT_KEEP_TESTS);
    if (keepTests < 1) throw new UsageError("--keep-tests must be at least 1");
    const port = intFlag(values, "port", 8080);
    if (!bf.kafka) console.warn("kannon orchestrator: no --kafka given: using the in-process bus, which no separate driver can reach");
    const dataDir = values.data ?? process.env.KANNON_DATA ?? ".kannon/data";
    const unlock = lockDataDir(dataDir, "kannon orchestrator");
    let bus: Awaited<ReturnType<typeof openBus>> | undefined;
    let o: Orchestrator;
    try {
      bus = await openBus({ ...bf, clientId: "kannon-orchestrator" });
      o = await Orchestrator.open({ bus, dataDir, keepTests, allowTargets, defaultTargetUrl });
    } catch (err) {
      await bus?.close();
      unlock();
      throw err;
    }
    const server = await startServer({ orchestrator: o, host: values.host, port, token, corsOrigins: values["cors-origin"] });
    console.log(`kannon orchestrator listening on ${server.url} (gRPC h2c, Connect, gRPC-Web; the dashboard at ${server.url}/)${bf.kafka ? `, Kafka ${bf.kafka}` : ""}`);
    const openBusNow = bus;
    return serveUntilSignal("kannon orchestrator", async () => {
      await server.close();
      await o.close();
      await openBusNow.close();
      unlock();
    });
  },
};

const driverFlags = {
  ...busFlagTable,
  id: { type: "string", value: "ID", help: "this driver's id", default: "driver-XXXXXXXX, random" },
  address: { type: "string", value: "A", help: "how the fleet page names this host", default: "the host name" },
  threads: { type: "string", value: "N", help: "load threads (1..64), each with its own connections; one driver to the fleet", default: "1" },
} as const;

/** `kannon driver`: one driver, joining the fleet over Kafka. */
export const driverCommand: Command = {
  name: "driver",
  summary: "one driver: joins the fleet over Kafka and fires the load it is given",
  flags: driverFlags,
  async run(argv) {
    const { values } = parseFlags(argv, driverFlags, "driver");
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
    return serveUntilSignal(
      `kannon driver ${d.id}`,
      async () => {
        // Leaves room within the shutdown deadline to flush the final metrics and say it is leaving.
        await d.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS / 2 });
        await bus.close();
      },
      "leaving the fleet",
    );
  },
};

/** `kannon target`: the built-in HTTP target on its own. */
export const targetCommand: Command = {
  name: "target",
  summary: "the built-in target (/ping and friends, kannon.target.v1 over Connect/gRPC/gRPC-Web; HTTP/1.1 and h2c), on its own",
  flags: {
    host: { type: "string", value: "H", help: "the address to listen on", default: "127.0.0.1" },
    port: { type: "string", value: "N", help: "the port", default: "a free one" },
    "tls-cert": { type: "string", value: "FILE", help: "serve HTTPS (h2 and HTTP/1.1 by ALPN) with this PEM certificate (needs --tls-key)", default: "plain HTTP and h2c" },
    "tls-key": { type: "string", value: "FILE", help: "the certificate's PEM private key" },
    "tls-client-ca": { type: "string", value: "FILE", help: "mutual TLS: clients must show a certificate this PEM CA signed", default: "no client certificate asked" },
  },
  async run(argv) {
    let options;
    try {
      options = parseTargetArgs(argv);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const t = await createTarget(options);
    console.log(`kannon target listening on ${t.url}`);
    return serveUntilSignal("kannon target", () => t.close());
  },
};
