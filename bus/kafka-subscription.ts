import { randomBytes } from "node:crypto";
import type { Admin, Consumer, ConsumerRunConfig, Kafka } from "kafkajs";
import { GroupInUseError, type Delivery, type RawRecord, type Subscription } from "./bus.js";
import { CLOSE_TIMEOUT_MS, errorText, RETRY, retrying, withTimeout } from "./kafka-util.js";
import { swallowed } from "../metrics/swallowed.js";
import type { Topic } from "./topics.js";

/** Consumer settings: fast failure detection and low delivery latency. */
const CONSUMER = {
  sessionTimeout: 10_000,
  heartbeatInterval: 1_000,
  rebalanceTimeout: 20_000,
  maxWaitTimeInMs: 100,
  // Partitions added to a topic are noticed within this long (kafkajs's default is 5 minutes).
  metadataMaxAge: 30_000,
} as const;

/**
 * A broadcast subscriber (a driver) fetches up to 8 MiB of a partition: kafkajs's default, 1 MiB,
 * is two chunks of a data file, and a 50 MB file took dozens of round trips per driver. Shared
 * subscribers (the orchestrator's) keep the default: their batches stay small.
 */
const BROADCAST_FETCH = { maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 32 * 1024 * 1024 } as const;

/** Longest wait for a subscriber to join its group and be positioned. */
const SUBSCRIBE_TIMEOUT_MS = 30_000;
/** How long an exclusive group's previous member (a killed process) may take to expire. */
const EXCLUSIVE_WAIT_MS = CONSUMER.sessionTimeout + 3_000;
/** How often the partitions' high watermarks are read to prove the subscriber caught up. */
const PROBE_EVERY_MS = 200;
/** Backoff of re-running a consumer that kafkajs gave up on (doubling, capped). */
const REVIVE_INITIAL_MS = 500;
const REVIVE_MAX_MS = 10_000;

const EMPTY = new Uint8Array(0);

/** One consumer (and consumer group membership) per subscription. */
export class KafkaSubscription implements Subscription {
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
  /** When the consumer last completed a fetch (an idle fetch completes every maxWaitTimeInMs). */
  private polledAt = Date.now();
  /** This member's partitions per topic (prefixed), from its last group join. */
  private assignment: Record<string, number[]> = {};
  /**
   * Per `topic/partition`: the offset after the last record handled, by this process or (as the
   * group's committed offset, which is committed only after a batch was handled) a predecessor.
   */
  private readonly applied = new Map<string, number>();
  /** A read of the high watermarks at `at`, waiting for the applied offsets to reach them. */
  private probe: { at: number; ends: Map<string, number> } | undefined;
  private probing = false;
  /** The last read of the watermarks failed: further failures are counted without a line each. */
  private probeFailing = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private caughtUp = 0;

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    private readonly prefix: string,
    topicNames: readonly Topic[],
    private readonly delivery: Delivery,
    private readonly onRecords: (records: RawRecord[]) => Promise<void> | void,
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
      ...(delivery.kind === "broadcast" ? BROADCAST_FETCH : {}),
      allowAutoTopicCreation: false,
      retry: RETRY,
    });
  }

  /** Epoch ms of the last completed fetch. */
  lastPollAt(): number {
    return this.polledAt;
  }

  /**
   * Everything published before this instant has been handled. Only evidence moves it: the high
   * watermarks of every assigned partition, read after the instant, were reached by the offsets
   * actually handled. (kafkajs's FETCH event is no evidence: it is emitted before the fetched
   * batches are handled and always says 0 batches.) It stands still while the broker is down.
   * The watermarks are read every {@link PROBE_EVERY_MS} from the first call on (only a
   * subscriber that asks pays for the reads).
   */
  caughtUpAt(): number {
    if (!this.probeTimer && !this.closing) this.probeTimer = setInterval(() => this.readEnds(), PROBE_EVERY_MS);
    return this.caughtUp;
  }

  /** Reads the high watermarks (and committed offsets) of the assigned partitions, one read at a time. */
  private readEnds(): void {
    if (this.probing || this.closing || this.phase !== "positioned") return;
    const at = Date.now();
    const topics = Object.keys(this.assignment).filter((t) => (this.assignment[t] ?? []).length > 0);
    if (topics.length === 0) {
      this.caughtUp = Math.max(this.caughtUp, at);
      return;
    }
    const joins = this.joins;
    this.probing = true;
    void Promise.all([Promise.all(topics.map((t) => this.admin.fetchTopicOffsets(t).then((ends) => ({ t, ends })))), this.admin.fetchOffsets({ groupId: this.groupId, topics })])
      .then(([ends, committed]) => {
        if (joins !== this.joins) return; // reassigned meanwhile: the next read counts
        for (const { topic, partitions } of committed)
          for (const p of partitions) if (Number(p.offset) >= 0) this.markApplied(`${topic}/${p.partition}`, Number(p.offset));
        if (!this.probe) {
          const wanted = new Map<string, number>();
          for (const { t, ends: list } of ends) {
            const mine = new Set(this.assignment[t] ?? []);
            for (const e of list) if (mine.has(e.partition)) wanted.set(`${t}/${e.partition}`, Number(e.high));
          }
          this.probe = { at, ends: wanted };
        }
        this.checkCaughtUp();
        this.probeFailing = false;
      })
      // The broker is unreachable: no evidence, caughtUpAt stands still.
      .catch((err: unknown) => {
        const log = (m: string) => this.probeFailing || this.log(m);
        swallowed("kafka.read_watermarks", `kafka: ${this.what}: could not read the watermarks: ${errorText(err)}; caught-up time stands still (further failures counted, not logged, until a read succeeds)`, log);
        this.probeFailing = true;
      })
      .finally(() => (this.probing = false));
  }

  private markApplied(key: string, next: number): void {
    if (next > (this.applied.get(key) ?? -1)) this.applied.set(key, next);
  }

  /** Moves caughtUpAt to the pending read's instant once every partition reached its watermark. */
  private checkCaughtUp(): void {
    const probe = this.probe;
    if (!probe) return;
    for (const [key, end] of probe.ends) if ((this.applied.get(key) ?? -1) < end) return;
    this.caughtUp = Math.max(this.caughtUp, probe.at);
    this.probe = undefined;
  }

  /** The group's live members, as `clientId@host`. */
  private async groupMembers(): Promise<string[]> {
    const { groups } = await retrying(() => this.admin.describeGroups([this.groupId]));
    return (groups[0]?.members ?? []).map((m) => `${m.clientId}@${m.clientHost}`);
  }

  /**
   * Refuses to join an exclusive group that has live members: a member of a killed process
   * expires after the session timeout, so that long is waited for first.
   */
  private async ensureGroupFree(): Promise<void> {
    const deadline = Date.now() + EXCLUSIVE_WAIT_MS;
    for (;;) {
      const members = await this.groupMembers();
      if (members.length === 0) return;
      if (Date.now() >= deadline || this.closing) {
        const who = members.join(", ");
        throw new GroupInUseError(
          `another process is consuming ${this.names.join(", ")} in group ${this.groupId} (${who}); ` +
            `stop it, or give this one another topic prefix`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Joins the group and resolves once the consumer is positioned on every assigned partition. */
  async start(): Promise<void> {
    const { consumer } = this;
    if (this.delivery.kind === "shared" && this.delivery.exclusive) await this.ensureGroupFree();
    const positioned = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    positioned.catch(() => {}); // observed below; avoid an unhandled rejection if start() fails earlier

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const generation = ++this.joins;
      // Positions restart from the committed offsets: the evidence of being caught up starts over.
      this.assignment = payload.memberAssignment;
      this.applied.clear();
      this.probe = undefined;
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
      this.polledAt = Date.now();
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
      // Offsets of a batch are resolved (and then committed) only after the handler returns: a
      // process that dies mid-batch gets the whole batch again, and applies it idempotently.
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const handled = () => {
          this.markApplied(`${batch.topic}/${batch.partition}`, Number(batch.lastOffset()) + 1);
          this.checkCaughtUp();
        };
        if (batch.messages.length === 0) return handled();
        const topic = batch.topic.slice(this.prefix.length) as Topic;
        const records: RawRecord[] = batch.messages.map((message) => ({
          topic,
          key: message.key?.toString("utf8") ?? "",
          value: message.value ?? EMPTY,
        }));
        try {
          await this.onRecords(records);
        } catch (err) {
          // Closing: leave the batch unacknowledged, the next consumer of the group gets it again.
          if (this.closing) throw err;
          // Never rethrow otherwise: kafkajs would redeliver the batch forever and stall the partition.
          swallowed(
            "kafka.batch_handler",
            `kafka: ${this.what} failed on ${batch.topic}[${batch.partition}]@${batch.firstOffset()}..${batch.lastOffset()}: ${errorText(err)}; the batch is skipped`,
            this.log,
          );
        }
        handled();
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
    if (this.delivery.kind === "shared" && this.delivery.exclusive) await this.ensureAlone();
  }

  /**
   * After joining an exclusive group: two processes that started at the same moment both passed
   * the check before joining; now each sees the other, and both refuse rather than split the
   * records between them (the caller closes this subscription).
   */
  private async ensureAlone(): Promise<void> {
    const members = await this.groupMembers();
    if (members.length <= 1) return;
    throw new GroupInUseError(
      `another process joined ${this.groupId} at the same time (${members.join(", ")}); ` +
        `both refuse rather than split ${this.names.join(", ")} between them: start one again`,
    );
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
      // A partition without an offset in a group that has others was added to a topic (grown):
      // everything on it is new to the group, so it is read from its start, not skipped.
      const groupHasOffsets = committed.some(({ partitions }) => partitions.some((p) => Number(p.offset) >= 0));
      for (const { topic, partitions } of committed) {
        const mine = new Set(assignment[topic] ?? []);
        const fresh = partitions.filter((p) => mine.has(p.partition) && Number(p.offset) < 0);
        if (fresh.length === 0) continue;
        const ends = await retrying(() => this.admin.fetchTopicOffsets(topic));
        for (const { partition } of fresh) {
          const end = ends.find((e) => e.partition === partition);
          if (end) this.consumer.seek({ topic, partition, offset: groupHasOffsets ? end.low : end.high });
        }
      }
    } catch (err) {
      if (this.closing) return;
      // Not fatal: the consumer still starts at the end; only the guard against rebalances is lost.
      swallowed("kafka.pin_offsets", `kafka: ${this.what}: could not pin the starting offsets: ${errorText(err)}`, this.log);
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
        if (!this.closing) swallowed("kafka.revive", `kafka: ${this.what}: restart ${attempt} failed: ${errorText(err)}`, this.log);
      });
    }, backoff);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.reviveTimer);
      clearInterval(this.probeTimer);
      this.settle?.reject(new Error("the subscription was closed"));
      try {
        await withTimeout(this.consumer.disconnect(), CLOSE_TIMEOUT_MS, "leaving the group");
      } catch (err) {
        swallowed("kafka.leave_group", `kafka: ${this.what}: close: could not leave the group: ${errorText(err)}`, this.log);
      }
      if (this.delivery.kind === "broadcast") {
        // A broadcast group belongs to this subscriber alone: do not leave its offsets behind.
        await withTimeout(this.admin.deleteGroups([this.groupId]), 2_000, "deleting the group").catch((err: unknown) =>
          swallowed("kafka.delete_group", `kafka: ${this.what}: close: could not delete broadcast group ${this.groupId}: ${errorText(err)}`, this.log),
        );
      }
      this.onClosed();
    })();
    return this.closing;
  }
}
