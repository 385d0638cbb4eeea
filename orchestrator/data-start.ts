/**
 * The start of a test with data files: every driver of the start attempt gets its part of each
 * file on the `data` topic, and the START goes out only once each has answered on `data_ready`
 * that it holds its part. A driver that answers with an error, refuses the test, is lost, or does
 * not answer by a deadline scaled with the data's size fails the start with a message naming it.
 */
import { create } from "@bufbuild/protobuf";
import type { Bus, Subscription } from "../bus/bus.js";
import type { DataReadyMessage } from "../gen/kannon/v1/bus_pb.js";
import { DataFileSchema } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { dataReadyDeadlineMs, strippedBytes, type DataTable } from "../scenario/data.js";
import { BUS_LIMITS, validDriverId } from "./bus-limits.js";
import { chunksOf, parseData, partRows } from "./data-parts.js";
import { DomainError } from "./errors.js";
import type { LiveTest } from "./live-test.js";
import type { Store } from "./store.js";

/** Chunk publishes in flight at once. */
const PUBLISH_WINDOW = 8;
/** How often a wait looks at the test (cancelled, a driver refused or lost). */
const POLL_MS = 100;

/** A test's data files, parsed and ready to send. */
export interface PreparedData {
  /** The spec with each file's `rows` set. */
  spec: TestSpec;
  tables: DataTable[];
}

interface Waiter {
  attempt: number;
  /** Rows each driver must hold, per file name. */
  expected: Map<string, Map<string, number>>;
  pending: Set<string>;
  fail: (err: DomainError) => void;
  done: () => void;
}

/** What {@link DataDistribution.distribute} needs. */
export interface Distribution {
  testId: string;
  attempt: number;
  driverIds: readonly string[];
  prepared: PreparedData;
  /** Why the start is given up meanwhile (cancelled, a driver refused or was lost), or undefined. */
  abandoned: () => string | undefined;
  /** Overrides the deadline (tests). */
  deadlineMs?: number | undefined;
}

/** Sends tests' data parts and collects the drivers' `data_ready` answers. */
export class DataDistribution {
  private subscription: Subscription | undefined;
  private readonly waits = new Map<string, Waiter>();
  /** Answers refused for being out of bounds. */
  invalid = 0;

  constructor(
    private readonly bus: Bus,
    private readonly store: Store,
    private readonly log: (message: string) => void,
  ) {}

  /** Consumes `data_ready`. */
  async start(): Promise<void> {
    this.subscription = await this.bus.subscribe({ kind: "shared", group: "orchestrator-data" }, { data_ready: (m) => this.onReady(m) });
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    for (const w of this.waits.values()) w.fail(new DomainError("unavailable", "the orchestrator is closing"));
  }

  /** Reads and parses a test's stored data files; the spec it returns has each file's rows. */
  prepare(testId: string, spec: TestSpec): PreparedData {
    const contents = this.store.getData(testId);
    if (contents.length !== spec.dataFiles.length)
      throw new DomainError("failed_precondition", `test "${testId}" has ${spec.dataFiles.length} data file(s) but ${contents.length} are stored; create it again`);
    const tables = spec.dataFiles.map((f, i) => parseData(f, contents[i]!));
    const dataFiles = spec.dataFiles.map((f, i) => create(DataFileSchema, { ...f, rows: BigInt(tables[i]!.rows.length) }));
    return { spec: create(TestSpecSchema, { ...spec, dataFiles }), tables };
  }

  /**
   * Publishes every driver's parts and resolves once each driver holds them; rejects with a
   * DomainError naming what went wrong (the caller cancels the attempt).
   */
  async distribute(d: Distribution): Promise<void> {
    const { spec, tables } = d.prepared;
    const deadlineMs = d.deadlineMs ?? dataReadyDeadlineMs(strippedBytes(spec.dataFiles));
    const expected = new Map<string, Map<string, number>>();
    for (const [share, driverId] of d.driverIds.entries())
      expected.set(driverId, new Map(spec.dataFiles.map((f, i) => [f.name, partRows(f, tables[i]!.rows.length, share, d.driverIds.length)])));
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const answered = new Promise<void>((done, fail) => {
      this.waits.set(d.testId, { attempt: d.attempt, expected, pending: new Set(d.driverIds), fail, done });
    });
    let failed = false;
    answered.catch(() => (failed = true)); // observed below; a failure during the publishes must not go unhandled
    try {
      const sent = await this.publishAll(d, spec, tables, () => failed);
      // Sent: the parsed rows (hundreds of MB for a large file) are not kept through the wait.
      tables.length = 0;
      const startedAt = Date.now();
      this.log(`orchestrator: test ${d.testId}: ${sent.chunks} data chunk(s), ${sent.bytes} bytes, sent to ${d.driverIds.length} driver(s) in ${Math.round(performance.now() - sent.began)} ms`);
      await Promise.race([
        answered,
        new Promise<never>((_, fail) => {
          poll = setInterval(() => {
            const why = d.abandoned();
            if (why) fail(new DomainError("failed_precondition", `test "${d.testId}" did not start: ${why}`));
          }, POLL_MS);
          timer = setTimeout(() => {
            const missing = [...(this.waits.get(d.testId)?.pending ?? [])];
            fail(
              new DomainError(
                "unavailable",
                `test "${d.testId}" did not start: driver(s) ${missing.join(", ")} did not confirm holding their part of the data files ` +
                  `(${strippedBytes(spec.dataFiles)} bytes) within ${Date.now() - startedAt} ms; it stays CREATED`,
              ),
            );
          }, deadlineMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      this.waits.delete(d.testId);
    }
  }

  /** Publishes the chunks of every file, a few at a time. */
  private async publishAll(d: Distribution, spec: TestSpec, tables: DataTable[], failed: () => boolean): Promise<{ chunks: number; bytes: number; began: number }> {
    const sent = { chunks: 0, bytes: 0, began: performance.now() };
    const inFlight = new Set<Promise<void>>();
    for (const [i, file] of spec.dataFiles.entries()) {
      for (const chunk of chunksOf(d.testId, d.attempt, file, tables[i]!, d.driverIds)) {
        const p: Promise<void> = this.bus.publishEncoded("data", d.testId, chunk.bytes).finally(() => inFlight.delete(p));
        sent.chunks++;
        sent.bytes += chunk.bytes.byteLength;
        inFlight.add(p);
        if (inFlight.size >= PUBLISH_WINDOW) await Promise.race(inFlight);
        if (failed()) break;
      }
    }
    await Promise.all(inFlight);
    return sent;
  }

  /** One driver's answer: it holds its part (with the expected rows), or says why it cannot. */
  private onReady(m: DataReadyMessage): void {
    if (!validDriverId(m.driverId) || m.testId.length > BUS_LIMITS.testIdChars || m.error.length > BUS_LIMITS.errorChars) {
      this.invalid++;
      return;
    }
    const w = this.waits.get(m.testId);
    if (!w || w.attempt !== m.attempt || !w.pending.has(m.driverId)) return;
    const fail = (why: string) => w.fail(new DomainError("failed_precondition", `test "${m.testId}" did not start: ${why}`));
    if (m.error) return fail(m.error.includes(m.driverId) ? m.error : `driver ${m.driverId}: ${m.error}`);
    for (const [name, rows] of w.expected.get(m.driverId)!) {
      const held = Number(m.rows[name] ?? 0n);
      if (held !== rows) return fail(`driver ${m.driverId} holds ${held} row(s) of data file ${name}, its part has ${rows}`);
    }
    w.pending.delete(m.driverId);
    if (w.pending.size === 0) w.done();
  }
}

/** Why a start waiting for its drivers' data is given up: cancelled, or a driver refused or was lost. */
export function abandonedStart(live: LiveTest, current: () => LiveTest | undefined): string | undefined {
  if (current() !== live || live.cancelRequested) return "it was cancelled while its data files were being sent";
  for (const d of live.drivers.values()) if (d.finished || d.lost) return d.message || `driver ${d.id} ended the test before it started`;
  return undefined;
}
