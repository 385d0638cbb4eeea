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
 */
import { randomBytes } from "node:crypto";
import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type Consumer,
  type ConsumerRunConfig,
  type LogEntry,
  type Message,
  type Producer,
  type RetryOptions,
} from "kafkajs";
import type { Delivery, RawRecord, Subscription, Transport } from "./bus.js";
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
}

/** Consumer settings: fast failure detection and low delivery latency. */
const CONSUMER = {
  sessionTimeout: 10_000,
  heartbeatInterval: 1_000,
  rebalanceTimeout: 20_000,
  maxWaitTimeInMs: 100,
} as const;

const RETRY: RetryOptions = { initialRetryTime: 100, maxRetryTime: 2_000, retries: 8 };
/** Attempts of one `send`, each with kafkajs's own retries inside. */
const SEND_ATTEMPTS = 3;
/** Longest wait for a subscriber to join its group and be positioned. */
const SUBSCRIBE_TIMEOUT_MS = 30_000;
/** Longest wait for one consumer to leave its group on close. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Backoff of re-running a consumer that kafkajs gave up on (doubling, capped). */
const REVIVE_INITIAL_MS = 500;
const REVIVE_MAX_MS = 10_000;

const EMPTY = new Uint8Array(0);

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
    logCreator: () => (entry: LogEntry) => forwardLog(entry, log, verbose),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: RETRY,
  });
  const where = `${options.brokers.join(",")} (prefix ${JSON.stringify(prefix)})`;

  const admin = kafka.admin({ retry: RETRY });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    retry: RETRY,
  });
  try {
    await admin.connect();
    await ensureTopics(admin, allTopics.map((t) => prefix + t), log);
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

    async subscribe(topicNames, delivery, onRecord) {
      if (closed) throw new Error("kafka: the transport is closed");
      const subscription = new KafkaSubscription(kafka, admin, prefix, topicNames, delivery, onRecord, log, () =>
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

/** One consumer (and consumer group membership) per subscription. */
class KafkaSubscription implements Subscription {
  private readonly consumer: Consumer;
  private readonly groupId: string;
  private readonly names: string[];
  private readonly what: string;
  private closing: Promise<void> | undefined;
  /** Bumped on every group join; positioning only completes for the latest generation. */
  private joins = 0;
  private phase: "joining" | "pinning" | "awaitFetchStart" | "awaitFetch" | "positioned" = "joining";
  private fetchNode: number | undefined;
  private settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  /** What `consumer.run` was given, to run it again after a crash kafkajs does not restart. */
  private runConfig: ConsumerRunConfig | undefined;
  private reviveTimer: NodeJS.Timeout | undefined;
  /** Crashes without a kafkajs restart since the last group join (sets the backoff). */
  private revives = 0;

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    private readonly prefix: string,
    topicNames: readonly Topic[],
    private readonly delivery: Delivery,
    private readonly onRecord: (record: RawRecord) => Promise<void> | void,
    private readonly log: (m: string) => void,
    private readonly onClosed: () => void,
  ) {
    this.groupId =
      delivery.kind === "shared" ? `${prefix}${delivery.group}` : `${prefix}${delivery.id}-${randomBytes(6).toString("hex")}`;
    this.names = topicNames.map((t) => prefix + t);
    this.what = `${delivery.kind} subscriber ${this.groupId} of ${topicNames.join(", ")}`;
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      ...CONSUMER,
      allowAutoTopicCreation: false,
      retry: RETRY,
    });
  }

  /** Joins the group and resolves once the consumer is positioned on every assigned partition. */
  async start(): Promise<void> {
    const { consumer } = this;
    const positioned = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    positioned.catch(() => {}); // observed below; avoid an unhandled rejection if start() fails earlier

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const generation = ++this.joins;
      if (this.revives > 0) this.log(`kafka: ${this.what} rejoined its group after ${this.revives} restart(s)`);
      this.revives = 0;
      if (this.phase !== "positioned") this.phase = "pinning";
      void this.pinStartingOffsets(payload.memberAssignment).finally(() => {
        if (generation === this.joins && this.phase === "pinning") this.phase = "awaitFetchStart";
      });
    });
    // A fetch that starts after the join (and after the starting offsets were pinned) resolves
    // every assigned partition's offset before it asks the broker; when it ends, we are positioned.
    consumer.on(consumer.events.FETCH_START, ({ payload }) => {
      if (this.phase === "awaitFetchStart") {
        this.phase = "awaitFetch";
        this.fetchNode = payload.nodeId;
      }
    });
    consumer.on(consumer.events.FETCH, ({ payload }) => {
      if (this.phase === "awaitFetch" && payload.nodeId === this.fetchNode) {
        this.phase = "positioned";
        this.settle?.resolve();
      }
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.closing) return;
      if (payload.restart) {
        this.log(`kafka: ${this.what} crashed: ${errorText(payload.error)}; kafkajs restarts it`);
      } else if (this.phase !== "positioned") {
        // Still subscribing: fail the subscribe with the cause rather than wait for its deadline.
        this.log(`kafka: ${this.what} crashed while subscribing: ${errorText(payload.error)}`);
        this.settle?.reject(payload.error);
      } else {
        // kafkajs stops for good on errors it deems non-retriable, which a broker restart can
        // produce (e.g. "Failed to find group coordinator" while the broker shuts down). A live
        // subscription must not go deaf: run the consumer again, with backoff, until it rejoins.
        this.revive(payload.error);
      }
    });

    const started = Date.now();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.names, fromBeginning: false });
    } catch (err) {
      throw new Error(`kafka: ${this.what} could not connect: ${errorText(err)}`, { cause: err });
    }
    this.runConfig = {
      autoCommit: true,
      eachMessage: async ({ topic, partition, message }) => {
        const record: RawRecord = {
          topic: topic.slice(this.prefix.length) as Topic,
          key: message.key?.toString("utf8") ?? "",
          value: message.value ?? EMPTY,
        };
        try {
          await this.onRecord(record);
        } catch (err) {
          // Never rethrow: kafkajs would redeliver the record forever and stall the partition.
          this.log(
            `kafka: ${this.what} failed on ${topic}[${partition}]@${message.offset} (key ${record.key}): ${errorText(err)}`,
          );
        }
      },
    };
    await consumer.run(this.runConfig);
    try {
      await withTimeout(positioned, SUBSCRIBE_TIMEOUT_MS, "joining the group");
    } catch (err) {
      throw new Error(
        `kafka: ${this.what} could not start within ${SUBSCRIBE_TIMEOUT_MS / 1000} s (${Date.now() - started} ms, ` +
          `stuck at ${this.phase}): ${errorText(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * Commits the current end of every newly assigned partition that has no committed offset (a
   * new group), by seeking there: from now on the group resumes from a fixed position.
   */
  private async pinStartingOffsets(assignment: Record<string, number[]>): Promise<void> {
    const topics = Object.keys(assignment).filter((t) => (assignment[t] ?? []).length > 0);
    if (topics.length === 0 || this.closing) return;
    try {
      const committed = await retrying(() => this.admin.fetchOffsets({ groupId: this.groupId, topics }));
      for (const { topic, partitions } of committed) {
        const mine = new Set(assignment[topic] ?? []);
        const fresh = partitions.filter((p) => mine.has(p.partition) && Number(p.offset) < 0);
        if (fresh.length === 0) continue;
        const ends = await retrying(() => this.admin.fetchTopicOffsets(topic));
        for (const { partition } of fresh) {
          const end = ends.find((e) => e.partition === partition);
          if (end) this.consumer.seek({ topic, partition, offset: end.high });
        }
      }
    } catch (err) {
      if (this.closing) return;
      // Not fatal: the consumer still starts at the end; only the guard against rebalances is lost.
      this.log(`kafka: ${this.what}: could not pin the starting offsets: ${errorText(err)}`);
    }
  }

  /**
   * Runs the consumer again after a crash kafkajs does not restart (it has already left the group
   * and disconnected). A crash of that run lands here again, with a longer backoff; the group's
   * committed offsets make it resume where it stopped.
   */
  private revive(error: unknown): void {
    if (this.closing || this.reviveTimer || !this.runConfig) return;
    const attempt = ++this.revives;
    const backoff = Math.min(REVIVE_INITIAL_MS * 2 ** (attempt - 1), REVIVE_MAX_MS);
    this.log(`kafka: ${this.what} crashed and kafkajs gave up: ${errorText(error)}; running it again in ${backoff} ms (restart ${attempt})`);
    const config = this.runConfig;
    this.reviveTimer = setTimeout(() => {
      this.reviveTimer = undefined;
      if (this.closing) return;
      // A failure to join surfaces as another CRASH event; anything thrown here is logged.
      this.consumer.run(config).catch((err: unknown) => {
        if (!this.closing) this.log(`kafka: ${this.what}: restart ${attempt} failed: ${errorText(err)}`);
      });
    }, backoff);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.reviveTimer);
      this.settle?.reject(new Error("the subscription was closed"));
      try {
        await withTimeout(this.consumer.disconnect(), CLOSE_TIMEOUT_MS, "leaving the group");
      } catch (err) {
        this.log(`kafka: ${this.what}: close: ${errorText(err)}`);
      }
      if (this.delivery.kind === "broadcast") {
        // A broadcast group belongs to this subscriber alone: do not leave its offsets behind.
        await withTimeout(this.admin.deleteGroups([this.groupId]), 2_000, "deleting the group").catch(() => {});
      }
      this.onClosed();
    })();
    return this.closing;
  }
}

/** Creates the topics that are missing and waits until each partition has a leader. */
async function ensureTopics(admin: Admin, names: string[], log: (m: string) => void): Promise<void> {
  await retrying(
    async () => {
      const existing = new Set(await admin.listTopics());
      const missing = names.filter((n) => !existing.has(n));
      if (missing.length > 0) {
        // Resolves false when another process created them first (TOPIC_ALREADY_EXISTS).
        await admin.createTopics({
          topics: missing.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
          waitForLeaders: true,
        });
      }
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless.length > 0) {
        throw Object.assign(new Error(`no leader yet for ${leaderless.map((t) => t.name).join(", ")}`), { retriable: true });
      }
    },
    { attempts: 10, log, what: "creating the topics" },
  );
}

/** Runs `fn`, retrying retriable errors with exponential backoff. */
async function retrying<T>(
  fn: () => Promise<T>,
  opts: { attempts?: number; log?: (m: string) => void; what?: string } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isRetriable(err)) throw err;
      const backoff = Math.min(100 * 2 ** (attempt - 1), 2_000);
      if (attempt >= 3) opts.log?.(`kafka: ${opts.what ?? "request"} failed (attempt ${attempt}/${attempts}): ${errorText(err)}; retrying`);
      await sleep(backoff);
    }
  }
}

const RETRIABLE_NAMES = new Set([
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded",
  "KafkaJSLockTimeout",
]);

function isRetriable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const x = e as { retriable?: unknown; name?: unknown; originalError?: unknown; cause?: unknown };
    if (x.retriable === true || (typeof x.name === "string" && RETRIABLE_NAMES.has(x.name))) return true;
    e = x.originalError ?? x.cause;
  }
  return false;
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

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { originalError?: unknown }).originalError ?? err.cause;
  return `${err.name === "Error" ? "" : `${err.name}: `}${err.message}${cause instanceof Error && !err.message.includes(cause.message) ? ` (cause: ${cause.message})` : ""}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
