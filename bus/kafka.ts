/**
 * The Kafka transport (kafkajs): the production data plane. Same records, same bytes as the
 * in-process transport; a topic `t` lives on Kafka as `${topicPrefix}${t}`.
 *
 * - `shared` delivery: one consumer group `${prefix}${group}` whose members split the records.
 * - `broadcast` delivery: a consumer group of its own per subscriber, so each sees every record.
 *
 * Positioning: a subscriber starts at the end of its partitions (nothing old is replayed) unless
 * its group has committed offsets, and `subscribe` resolves only once the consumer has joined and
 * resolved its offsets. The starting position of a partition without a committed offset is
 * committed right away (by seeking to the current end), so a rebalance or a restart before the
 * first record resumes from there instead of jumping to a later end and skipping records.
 *
 * Failures: kafkajs retries requests and restarts a consumer after a retriable error; a live
 * subscription whose consumer kafkajs gives up on (a "non-retriable" crash, which a broker restart
 * can cause) is run again here with backoff and resumes from its group's committed offsets.
 */import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type LogEntry,
  type Message,
} from "kafkajs";
import { eachRecord, type RawRecord, type Transport } from "./bus.js";
import { KafkaSubscription } from "./kafka-subscription.js";
import { CLOSE_TIMEOUT_MS, errorText, isRetriable, RETRY, retrying, sleep, withTimeout } from "./kafka-util.js";
import { allTopics, type Topic } from "./topics.js";

/** Options of {@link createKafkaTransport}. */
export interface KafkaTransportOptions {
  /** Bootstrap servers, `host:port`. */
  brokers: string[];
  /** Prefixed to every topic and consumer group name, so that fleets can share a cluster. */
  topicPrefix: string;
  clientId: string;
  /** Where warnings and errors go (kafkajs's own WARN+ lines included, its known noise excluded). */
  log: (message: string) => void;
  /**
   * Partitions of each topic created here (default 1). Driver topics are keyed by driver id, so
   * more partitions spread a large fleet's metrics over more consumers; a topic that exists with
   * fewer partitions is grown to this many.
   */
  partitions?: number | undefined;
  /** TLS to the brokers: true for the system's CAs, or PEM CA certificates to trust. */
  tls?: boolean | { ca: string[] } | undefined;
  /** SASL authentication. */
  sasl?: KafkaSasl | undefined;
}

/** SASL credentials for the brokers. */
export interface KafkaSasl {
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  username: string;
  password: string;
}

/** Attempts of one `send`, each with kafkajs's own retries inside. */
const SEND_ATTEMPTS = 3;
/**
 * kafkajs lines that are expected and harmless: the first join of a fresh cluster logs an ERROR
 * while `__consumer_offsets` is created, and kafkajs retries by itself; two processes creating the
 * topics at once log "Topic creation errors" for TOPIC_ALREADY_EXISTS (any other creation error
 * is thrown to ensureTopics and reported there); the partitioner notice.
 */
const HARMLESS = [
  /group coordinator is not available/i,
  /Response CreateTopics\(.*Topic creation errors/,
  /coordinator is loading/i,
  /switched default partitioner/i,
  /KAFKAJS_NO_PARTITIONER_WARNING/,
];

/**
 * Opens a Kafka transport: connects, creates the data-plane topics if missing (any process may be
 * first), and connects the producer.
 */
export async function createKafkaTransport(options: KafkaTransportOptions): Promise<Transport> {
  const { topicPrefix: prefix, log } = options;
  const verbose = process.env.KAFKAJS_LOG_LEVEL ? true : false;
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN, // KAFKAJS_LOG_LEVEL overrides this inside kafkajs, for debugging
    logCreator: () => {
      const throttled = throttleRepeats(log, REPEAT_WINDOW_MS);
      return (entry: LogEntry) => forwardLog(entry, verbose ? log : throttled, verbose);
    },
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: RETRY,
    ...(options.tls ? { ssl: options.tls === true ? true : { ca: options.tls.ca } } : {}),
    ...(options.sasl ? { sasl: { ...options.sasl } as never } : {}),
  });
  const where =
    `${options.brokers.join(",")} (prefix ${JSON.stringify(prefix)}` +
    `${options.tls ? ", TLS" : ""}${options.sasl ? `, SASL ${options.sasl.mechanism} as ${options.sasl.username}` : ""})`;

  const admin = kafka.admin({ retry: RETRY });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    metadataMaxAge: 30_000,
    allowAutoTopicCreation: false,
    retry: RETRY,
  });
  try {
    await admin.connect();
    await ensureTopics(admin, prefix, allTopics.map((t) => prefix + t), options.partitions ?? 1, log);
    await producer.connect();
  } catch (err) {
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    throw new Error(`kafka: could not open the data plane on ${where}: ${errorText(err)}`, { cause: err });
  }

  let closed = false;
  const subscriptions = new Set<KafkaSubscription>();

  const transport: Transport = {
    async send(records) {
      if (closed) throw new Error("kafka: the transport is closed");
      if (records.length === 0) return;
      const byTopic = new Map<string, Message[]>();
      for (const r of records) {
        const name = prefix + r.topic;
        let list = byTopic.get(name);
        if (!list) byTopic.set(name, (list = []));
        list.push({ key: r.key, value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) });
      }
      const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      for (let attempt = 1; ; attempt++) {
        try {
          await producer.sendBatch({ topicMessages, acks: -1 });
          return;
        } catch (err) {
          const again = !closed && attempt < SEND_ATTEMPTS && isRetriable(err);
          const backoff = 250 * 2 ** (attempt - 1);
          log(
            `kafka: send of ${records.length} record(s) to ${describeRecords(records)} failed ` +
              `(attempt ${attempt}/${SEND_ATTEMPTS}): ${errorText(err)}${again ? `; retrying in ${backoff} ms` : ""}`,
          );
          if (!again) {
            throw new Error(`kafka: could not send ${records.length} record(s) to ${describeRecords(records)}: ${errorText(err)}`, {
              cause: err,
            });
          }
          await sleep(backoff);
        }
      }
    },

    subscribe(topicNames, delivery, onRecord) {
      return transport.subscribeBatch(topicNames, delivery, eachRecord(onRecord, "kafka.record_handler", log));
    },

    async subscribeBatch(topicNames, delivery, onRecords) {
      if (closed) throw new Error("kafka: the transport is closed");
      const subscription = new KafkaSubscription(kafka, admin, prefix, topicNames, delivery, onRecords, log, () =>
        subscriptions.delete(subscription),
      );
      subscriptions.add(subscription);
      try {
        await subscription.start();
      } catch (err) {
        await subscription.close();
        throw err;
      }
      return subscription;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...subscriptions].map((s) => s.close()));
      await Promise.allSettled([
        withTimeout(producer.disconnect(), CLOSE_TIMEOUT_MS, "producer disconnect"),
        withTimeout(admin.disconnect(), CLOSE_TIMEOUT_MS, "admin disconnect"),
      ]);
    },
  };
  return transport;
}

/**
 * How long the broker keeps the records of `data` (test data files, up to 200 MB a test): they are
 * read once, while a test starts, so an hour is plenty (Kafka's default keeps them a week).
 */
export const DATA_RETENTION_MS = 3_600_000;

/** Topic-level settings of the topics created here, by topic (without prefix). */
const TOPIC_CONFIG: Partial<Record<Topic, { name: string; value: string }[]>> = { data: [{ name: "retention.ms", value: String(DATA_RETENTION_MS) }] };

/** Creates the topics that are missing (or grows them to `partitions`) and waits until each partition has a leader. */
async function ensureTopics(admin: Admin, prefix: string, names: string[], partitions: number, log: (m: string) => void): Promise<void> {
  await retrying(
    async () => {
      const existing = new Set(await admin.listTopics());
      const missing = names.filter((n) => !existing.has(n));
      if (missing.length > 0) {
        // Resolves false when another process created them first (TOPIC_ALREADY_EXISTS).
        await admin.createTopics({
          topics: missing.map((topic) => {
            const configEntries = TOPIC_CONFIG[topic.slice(prefix.length) as Topic];
            return { topic, numPartitions: partitions, replicationFactor: 1, ...(configEntries ? { configEntries } : {}) };
          }),
          waitForLeaders: true,
        });
      }
      let { topics } = await admin.fetchTopicMetadata({ topics: names });
      const small = topics.filter((t) => t.partitions.length > 0 && t.partitions.length < partitions);
      if (small.length > 0) {
        log(`kafka: growing ${small.map((t) => `${t.name} (${t.partitions.length})`).join(", ")} to ${partitions} partitions`);
        await admin.createPartitions({ topicPartitions: small.map((t) => ({ topic: t.name, count: partitions })) });
        ({ topics } = await admin.fetchTopicMetadata({ topics: names }));
      }
      const leaderless = topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless.length > 0) {
        throw Object.assign(new Error(`no leader yet for ${leaderless.map((t) => t.name).join(", ")}`), { retriable: true });
      }
    },
    { attempts: 10, log, what: "creating the topics" },
  );
}

/** The same kafkajs line (an unreachable broker logs one per retry) is shown once per window. */
const REPEAT_WINDOW_MS = 5_000;

/**
 * Wraps a log so that a line repeated within `windowMs` of its last showing is counted instead of
 * printed; the next time it shows, it says how many were held back.
 */
export function throttleRepeats(log: (m: string) => void, windowMs: number, now = () => Date.now()): (m: string) => void {
  const seen = new Map<string, { shownAt: number; held: number }>();
  return (line) => {
    // Lines differ only in counters and addresses: compare them without digits.
    const key = line.replace(/\d+/g, "#");
    const t = now();
    const entry = seen.get(key);
    if (entry && t - entry.shownAt < windowMs) {
      entry.held++;
      return;
    }
    log(entry?.held ? `${line} [${entry.held} similar line(s) held back in the last ${Math.round((t - entry.shownAt) / 1000)} s]` : line);
    seen.set(key, { shownAt: t, held: 0 });
    if (seen.size > 200) seen.delete(seen.keys().next().value as string);
  };
}

/** Forwards kafkajs's WARN and ERROR lines (all lines when KAFKAJS_LOG_LEVEL is set), minus known noise. */
function forwardLog(entry: LogEntry, log: (m: string) => void, verbose: boolean): void {
  if (!verbose && entry.level > logLevel.WARN) return;
  const { message, timestamp: _t, logger: _l, ...extra } = entry.log;
  const text = `${message} ${typeof extra.error === "string" ? extra.error : ""}`;
  if (!verbose && HARMLESS.some((re) => re.test(text))) return;
  const details = Object.entries(extra)
    .filter(([k, v]) => v !== undefined && k !== "stack")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  log(`kafka: ${entry.label} [${entry.namespace}] ${message}${details ? ` (${details})` : ""}`);
}

function describeRecords(records: readonly RawRecord[]): string {
  const byTopic = new Map<string, string[]>();
  for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r.key]);
  return [...byTopic]
    .map(([topic, keys]) => {
      const unique = [...new Set(keys)];
      const shown = unique.slice(0, 3).join(", ") + (unique.length > 3 ? `, +${unique.length - 3} more` : "");
      return `${topic} (key${unique.length === 1 ? "" : "s"} ${shown})`;
    })
    .join("; ");
}
