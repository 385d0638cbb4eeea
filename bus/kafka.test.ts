/**
 * The Kafka transport against a real broker (started once per run by test/kafka-global-setup.ts,
 * or KANNON_TEST_KAFKA). Every test uses a topic prefix of its own.
 */
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { afterEach, describe, expect, inject, it } from "vitest";
import { MetricsMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { createBus, GroupInUseError, type RawRecord, type Transport } from "./bus.js";
import { createKafkaTransport, DATA_RETENTION_MS, throttleRepeats } from "./kafka.js";
import { allTopics } from "./topics.js";

const bootstrap = inject("kafkaBootstrap");

/** Everything the transports log; a test asserts on it where noise matters. */
let logged: string[] = [];
const opened: Transport[] = [];

function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString("hex")}.`;
}

async function open(prefix: string, clientId = "kafka-test", partitions?: number): Promise<Transport> {
  const transport = await createKafkaTransport({
    brokers: [bootstrap],
    topicPrefix: prefix,
    clientId,
    log: (m) => logged.push(m),
    partitions,
  });
  opened.push(transport);
  return transport;
}

function record(topic: RawRecord["topic"], key: string, text: string): RawRecord {
  return { topic, key, value: new TextEncoder().encode(text) };
}

const text = (r: RawRecord) => new TextDecoder().decode(r.value);

/** Polls until `check` holds, or fails after `ms`. */
async function until(check: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  logged = [];
});

describe("Kafka transport (real broker)", () => {
  it("creates every data-plane topic under the prefix, once, even when two processes race", async () => {
    const prefix = uniquePrefix();
    // Two "processes" open the transport at the same moment: both must succeed.
    await Promise.all([open(prefix, "a"), open(prefix, "b")]);
    const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const names = (await admin.listTopics()).filter((n) => n.startsWith(prefix)).sort();
      expect(names).toEqual(allTopics.map((t) => prefix + t).sort());
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      for (const t of topics) {
        expect(t.partitions).toHaveLength(1);
        expect(t.partitions[0]!.leader).toBeGreaterThanOrEqual(0);
      }
      // Test data files are read once, at a test's start: the broker keeps them an hour, not a week.
      const { resources } = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: `${prefix}data`, configNames: ["retention.ms"] }], includeSynonyms: false });
      expect(resources[0]!.configEntries.find((e) => e.configName === "retention.ms")?.configValue).toBe(String(DATA_RETENTION_MS));
    } finally {
      await admin.disconnect();
    }
    // Opening again over existing topics is fine too.
    await open(prefix, "c");
    expect(logged).toEqual([]);
  });

  it("creates topics with the partition count asked for, grows existing ones, and delivers a batch per partition", async () => {
    const prefix = uniquePrefix();
    await open(prefix, "one");
    const grown = await open(prefix, "three", 3);
    const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: allTopics.map((t) => prefix + t) });
      for (const t of topics) expect(t.partitions, t.name).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }
    expect(logged.some((l) => /growing .* to 3 partitions/.test(l))).toBe(true);
    // Keyed by driver id, 60 drivers' records spread over the partitions; a shared subscriber gets them all, in batches.
    const got: string[] = [];
    let batches = 0;
    await grown.subscribeBatch(["metrics"], { kind: "shared", group: "orchestrator" }, (records) => {
      batches++;
      for (const r of records) got.push(text(r));
    });
    const sent = Array.from({ length: 60 }, (_, i) => record("metrics", `driver-${i}`, `m${i}`));
    await grown.send(sent);
    await until(() => got.length === sent.length, 15_000, "60 records");
    expect(got.sort()).toEqual(sent.map(text).sort());
    expect(batches).toBeGreaterThanOrEqual(3); // one per partition at least
    expect(batches).toBeLessThan(sent.length);
  });

  it("an exclusive shared group refuses a second subscriber while the first is alive", async () => {
    const prefix = uniquePrefix();
    const first = await open(prefix, "orchestrator-a");
    const second = await open(prefix, "orchestrator-b");
    await first.subscribe(["heartbeat"], { kind: "shared", group: "orchestrator", exclusive: true }, () => {});
    const started = Date.now();
    const err = await second.subscribe(["heartbeat"], { kind: "shared", group: "orchestrator", exclusive: true }, () => {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GroupInUseError);
    expect(String(err)).toMatch(/another process is consuming .*heartbeat in group .*orchestrator \(orchestrator-a@/);
    expect(String(err)).toMatch(/another topic prefix/);
    // It waited out a session timeout first (a killed process's member would have expired by then).
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
  }, 40_000);

  it("two subscribers joining an exclusive group at the same moment both refuse", async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([open(prefix, "racer-a"), open(prefix, "racer-b")]);
    const results = await Promise.all(
      [a, b].map((t) =>
        t.subscribe(["register"], { kind: "shared", group: "orchestrator", exclusive: true }, () => {}).then(
          (sub) => ({ ok: true as const, sub }),
          (err: unknown) => ({ ok: false as const, err }),
        ),
      ),
    );
    // Never both: at most one may have won outright (if it joined alone before the other looked).
    expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(1);
    for (const r of results) if (!r.ok) expect(r.err).toBeInstanceOf(GroupInUseError);
  }, 60_000);

  it("delivers every message to each broadcast subscriber, in order", async () => {
    const prefix = uniquePrefix();
    const orchestrator = await open(prefix, "orchestrator");
    const [driverA, driverB] = await Promise.all([open(prefix, "driver-a"), open(prefix, "driver-b")]);
    const a: string[] = [];
    const b: string[] = [];
    await driverA.subscribe(["test_config", "trigger"], { kind: "broadcast", id: "driver-a" }, (r) => {
      a.push(`${r.topic}/${r.key}/${text(r)}`);
    });
    await driverB.subscribe(["test_config", "trigger"], { kind: "broadcast", id: "driver-b" }, (r) => {
      b.push(`${r.topic}/${r.key}/${text(r)}`);
    });
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      const topic = i % 2 === 0 ? "test_config" : "trigger";
      await orchestrator.send([record(topic, "test-1", `m${i}`)]);
      expected.push(`${topic}/test-1/m${i}`);
    }
    await until(() => a.length >= 20 && b.length >= 20, 10_000, "both broadcast subscribers");
    await sleep(300); // nothing extra arrives
    // Each topic is one partition: order holds per topic.
    const perTopic = (list: string[], topic: string) => list.filter((m) => m.startsWith(`${topic}/`));
    for (const got of [a, b]) {
      expect(got).toHaveLength(20);
      expect(perTopic(got, "test_config")).toEqual(perTopic(expected, "test_config"));
      expect(perTopic(got, "trigger")).toEqual(perTopic(expected, "trigger"));
    }
    expect(logged).toEqual([]);
  });

  it("gives each message to exactly one member of a shared group", async () => {
    const prefix = uniquePrefix();
    const [one, two, driver] = await Promise.all([open(prefix, "orch-1"), open(prefix, "orch-2"), open(prefix, "driver")]);
    const got: { member: string; key: string }[] = [];
    await one.subscribe(["register", "heartbeat"], { kind: "shared", group: "orchestrator" }, (r) => {
      got.push({ member: "one", key: `${r.topic}/${r.key}` });
    });
    await two.subscribe(["register", "heartbeat"], { kind: "shared", group: "orchestrator" }, (r) => {
      got.push({ member: "two", key: `${r.topic}/${r.key}` });
    });
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) {
      const topic = i % 3 === 0 ? "register" : "heartbeat";
      await driver.send([record(topic, `driver-${i}`, "x")]);
      keys.push(`${topic}/driver-${i}`);
    }
    await until(() => got.length >= 30, 15_000, "30 records in the shared group");
    await sleep(500); // no duplicates trickle in
    expect(got.map((g) => g.key).sort()).toEqual([...keys].sort());
    expect(new Set(got.map((g) => g.key)).size).toBe(30);
  });

  it("delivers a record sent right after subscribe resolves (broadcast and fresh shared groups)", async () => {
    const prefix = uniquePrefix();
    const sender = await open(prefix, "sender");
    const receiver = await open(prefix, "receiver");
    for (let i = 0; i < 4; i++) {
      const got: string[] = [];
      const started = Date.now();
      const sub = await receiver.subscribe(["test_config"], { kind: "broadcast", id: `driver-${i}` }, (r) => {
        got.push(text(r));
      });
      const joinedMs = Date.now() - started;
      await sender.send([record("test_config", "test-1", `config-${i}`)]);
      await until(() => got.includes(`config-${i}`), 10_000, `config-${i} after a broadcast subscribe (joined in ${joinedMs} ms)`);
      // Only what was sent after it subscribed: older configs are not replayed.
      expect(got).toEqual([`config-${i}`]);
      await sub.close();
    }
    for (let i = 0; i < 3; i++) {
      const got: string[] = [];
      const sub = await receiver.subscribe(["register"], { kind: "shared", group: `fresh-${i}` }, (r) => {
        got.push(text(r));
      });
      await sender.send([record("register", "driver-1", `register-${i}`)]);
      await until(() => got.includes(`register-${i}`), 10_000, `register-${i} after a shared subscribe`);
      await sub.close();
    }
  });

  it("caughtUpAt passes an instant only once everything sent before it was handled (a backlog, slow handlers)", async () => {
    const prefix = uniquePrefix();
    const sender = await open(prefix, "sender");
    const receiver = await open(prefix, "receiver", 3);
    const delivery = { kind: "shared", group: "orchestrator" } as const;
    // The group's starting position is pinned; then a backlog piles up while nobody listens.
    await (await receiver.subscribeBatch(["metrics"], delivery, () => {})).close();
    // More than one fetch holds (kafkajs fetches at most 1 MB per partition).
    const total = 3000;
    const pad = "x".repeat(2000);
    for (let i = 0; i < total; i += 500)
      await sender.send(Array.from({ length: 500 }, (_, j) => record("metrics", `driver-${(i + j) % 7}`, `r${i + j}${pad}`)));
    const sentAt = Date.now();
    let handled = 0;
    const sub = await receiver.subscribeBatch(["metrics"], delivery, async (records) => {
      await sleep(300);
      handled += records.length;
    });
    const early: string[] = [];
    await until(() => {
      const at = sub.caughtUpAt!();
      if (at > sentAt && handled < total) early.push(`caught up at ${at - sentAt} ms past the backlog with ${handled} of ${total} handled`);
      return at > sentAt;
    }, 30_000, "caughtUpAt past the backlog");
    expect(early).toEqual([]);
    expect(handled).toBe(total);
  });

  it("resumes a shared group from its committed position, including one that never received anything", async () => {
    const prefix = uniquePrefix();
    const sender = await open(prefix, "sender");
    const receiver = await open(prefix, "receiver");
    const got: string[] = [];
    const onRecord = (r: RawRecord) => {
      got.push(text(r));
    };

    // A new group that is closed before any record: its starting position was committed, so what
    // is sent while nobody listens is delivered when the group comes back.
    let sub = await receiver.subscribe(["metrics"], { kind: "shared", group: "orchestrator" }, onRecord);
    await sub.close();
    await sender.send([record("metrics", "driver-1", "while-away-1")]);
    sub = await receiver.subscribe(["metrics"], { kind: "shared", group: "orchestrator" }, onRecord);
    await until(() => got.includes("while-away-1"), 10_000, "while-away-1");
    await sub.close();

    // An existing group resumes after what it consumed: nothing is replayed, nothing is missed.
    await sender.send([record("metrics", "driver-1", "while-away-2")]);
    sub = await receiver.subscribe(["metrics"], { kind: "shared", group: "orchestrator" }, onRecord);
    await until(() => got.includes("while-away-2"), 10_000, "while-away-2");
    await sleep(300);
    expect(got).toEqual(["while-away-1", "while-away-2"]);
  });

  it("skips an undecodable record and a failing handler without stalling the consumer", async () => {
    const prefix = uniquePrefix();
    const transport = await open(prefix, "driver");
    const busLog: string[] = [];
    const bus = createBus(transport, { log: (m) => busLog.push(m) });
    const received: bigint[] = [];
    await bus.subscribe(
      { kind: "shared", group: "orchestrator" },
      {
        metrics: (m) => {
          if (m.seq === 2n) throw new Error("handler exploded on purpose");
          received.push(m.seq);
        },
      },
    );
    // Raw garbage straight through the transport, then valid messages.
    await transport.send([{ topic: "metrics", key: "driver-1", value: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }]);
    for (const seq of [1n, 2n, 3n]) {
      await bus.publish("metrics", "driver-1", create(MetricsMessageSchema, { testId: "test-1", driverId: "driver-1", seq }));
    }
    await until(() => received.includes(3n), 10_000, "seq 3 after the garbage and the failing handler");
    expect(received).toEqual([1n, 3n]);
    expect(bus.stats.undecodable).toBe(1);
    expect(bus.stats.handlerErrors).toBe(1);
    expect(bus.stats.delivered).toBe(3);
    expect(busLog.some((m) => m.includes("undecodable metrics record (key driver-1, 4 bytes)"))).toBe(true);

    // A throwing onRecord at the transport level is logged with context and the next record still arrives.
    const raw: string[] = [];
    await transport.subscribe(["heartbeat"], { kind: "broadcast", id: "raw" }, (r) => {
      if (text(r) === "boom") throw new Error("onRecord exploded on purpose");
      raw.push(text(r));
    });
    await transport.send([record("heartbeat", "driver-1", "boom"), record("heartbeat", "driver-1", "after")]);
    await until(() => raw.includes("after"), 10_000, "the record after a throwing onRecord");
    expect(logged.some((m) => m.includes("onRecord exploded on purpose") && m.includes("heartbeat"))).toBe(true);
  });

  it("closes quickly, with subscribers and a slow handler in flight", async () => {
    const prefix = uniquePrefix();
    const transport = await open(prefix, "closing");
    await transport.subscribe(["register"], { kind: "shared", group: "orchestrator" }, () => {});
    await transport.subscribe(["test_config", "trigger"], { kind: "broadcast", id: "driver-1" }, () => {});
    let inHandler = false;
    await transport.subscribe(["metrics"], { kind: "broadcast", id: "driver-2" }, async () => {
      inHandler = true;
      await sleep(300);
    });
    await transport.send([record("metrics", "driver-2", "slow")]);
    await until(() => inHandler, 10_000, "the slow handler to start");
    const started = Date.now();
    await transport.close();
    const ms = Date.now() - started;
    expect(ms).toBeLessThan(3_000);
    await expect(transport.send([record("register", "x", "y")])).rejects.toThrow(/closed/);
    await expect(transport.subscribe(["register"], { kind: "broadcast", id: "late" }, () => {})).rejects.toThrow(/closed/);
  });
});

describe("throttleRepeats", () => {
  it("shows a repeated line once per window and then says how many were held back", () => {
    const lines: string[] = [];
    let t = 0;
    const log = throttleRepeats((m) => lines.push(m), 5000, () => t);
    for (let i = 0; i < 50; i++) {
      t = i * 100;
      log(`kafka: Connection error: connect ECONNREFUSED 127.0.0.1:${9000 + (i % 3)} (retryCount=${i})`);
    }
    log("kafka: something else");
    t = 5200;
    log("kafka: Connection error: connect ECONNREFUSED 127.0.0.1:9000 (retryCount=99)");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe("kafka: something else");
    expect(lines[2]).toContain("[49 similar line(s) held back in the last 5 s]");
  });
});
