import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { open, type RootDatabase } from "lmdb";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverSchema, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { DriverReportSchema, ReportSchema, StatsSchema, type Report, type Stats } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, type Test } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";

const pad = (n: bigint | number, width: number) => n.toString().padStart(width, "0");
/** Every key under `prefix/` (keys compare as UTF-8 bytes: "0" follows "/", whatever comes after it). */
const under = (prefix: string) => ({ start: `${prefix}/`, end: `${prefix}0` });

/** The store key of one driver interval: seq before driver, so a replay runs interval by interval. */
export const metricsKey = (m: MetricsMessage) => `m/${m.testId}/${pad(m.seq, 12)}/${m.driverId}`;
/** A loss sorts by the interval before which the replay applies it. */
const lossKey = (testId: string, at: number, driverId: string) => `loss/${testId}/${pad(Math.max(0, at), 12)}/${driverId}`;
const intervalKey = (testId: string, k: number) => `interval/${testId}/${pad(k, 10)}`;
const indexKey = (t: Test) => `tidx/${pad(t.createdAt ? Math.round(msOf(t.createdAt)) : 0, 15)}/${t.id}`;

/**
 * A driver declared lost during a run, stored so that a restarted orchestrator's replay loses it
 * at the same point: before the first interval `at` or later (the driver had reached `at - 1`).
 */
export interface StoredLoss {
  at: number;
  driverId: string;
  message: string;
}

/** A stored raw record of one driver interval. */
export interface StoredMetrics {
  key: string;
  value: Uint8Array;
}

/**
 * The orchestrator's durable state in LMDB, every value a binary protobuf:
 * `test/<id>` (and `tidx/<created ms>/<id>`, the index listings page through, newest first),
 * `driver/<id>`, `m/<test>/<seq>/<driver>` (raw driver intervals while a test runs),
 * `loss/<test>/<seq>/<driver>` (drivers declared lost while it runs, a DriverReport with the message),
 * `interval/<test>/<k>` (merged intervals with histograms), `report/<id>`, `data/<test>/<i>` (the
 * content of a test's data files, until it has run).
 *
 * Tests and reports are written synchronously, so an RPC answers only after its change is stored.
 * Metrics arrive in batches and are written in one asynchronous transaction per batch; drivers and
 * intervals are written asynchronously too (a restart rebuilds them from what is stored).
 */
export class Store {
  private readonly handle: RootDatabase<Uint8Array, string>;
  /** Set by the first close(): the close under way or done. */
  private closed: Promise<void> | undefined;
  private tests: number;

  constructor(dataDir: string) {
    this.handle = open<Uint8Array, string>({ path: dataDir, encoding: "binary", compression: false });
    this.tests = this.handle.getKeysCount(under("tidx"));
  }

  /**
   * The database, until close() begins. A read between lmdb's close() and the environment's end
   * (while its last writes commit) arms a read transaction on the closed one, and the commit's reset
   * of it throws "Attempt to reset an invalid read txn" from a callback, killing the process (a CI
   * run's RPC handler read during the orchestrator's close). So every use after that throws here, in
   * its caller, naming the cause.
   */
  private get db(): RootDatabase<Uint8Array, string> {
    if (this.closed) throw new Error("the store is closed (the orchestrator is shutting down)");
    return this.handle;
  }

  /** How many tests are stored. */
  get testCount(): number {
    return this.tests;
  }

  /** Stores a test (and its index entry). */
  putTest(test: Test): void {
    const key = `test/${test.id}`;
    const isNew = !this.db.doesExist(key);
    this.db.transactionSync(() => {
      void this.db.put(key, toBinary(TestSchema, test));
      if (isNew) void this.db.put(indexKey(test), new Uint8Array(0));
    });
    if (isNew) this.tests++;
  }

  /** A test, or undefined. */
  getTest(id: string): Test | undefined {
    const v = this.db.get(`test/${id}`);
    return v ? fromBinary(TestSchema, v) : undefined;
  }

  /** Tests newest first, from after `afterKey` (an index key a previous page ended on). */
  *testsNewestFirst(afterKey?: string): Generator<{ indexKey: string; test: Test }> {
    const range = this.db.getKeys({ start: afterKey ?? under("tidx").end, end: "tidx/", reverse: true });
    for (const key of range) {
      if (key === afterKey) continue;
      const test = this.getTest(key.slice(key.lastIndexOf("/") + 1));
      if (test) yield { indexKey: key, test };
    }
  }

  /** Ids of the stored tests, newest first, without reading the tests. */
  *testIds(): Generator<string> {
    for (const key of this.db.getKeys({ start: under("tidx").end, end: "tidx/", reverse: true })) yield key.slice(key.lastIndexOf("/") + 1);
  }

  /** Tests oldest first (for retention). */
  *testsOldestFirst(): Generator<Test> {
    for (const key of this.db.getKeys(under("tidx"))) {
      const test = this.getTest(key.slice(key.lastIndexOf("/") + 1));
      if (test) yield test;
    }
  }

  /** True when `key` looks like an index key this store writes (for page tokens). */
  isIndexKey(key: string): boolean {
    return /^tidx\/\d{15}\/[^/]+$/.test(key);
  }

  /** Deletes a test and everything stored for it. */
  async deleteTest(test: Test): Promise<void> {
    if (!this.db.doesExist(`test/${test.id}`)) return;
    this.db.transactionSync(() => {
      void this.db.remove(`test/${test.id}`);
      void this.db.remove(indexKey(test));
      void this.db.remove(`report/${test.id}`);
    });
    this.tests = Math.max(0, this.tests - 1);
    await Promise.all([this.removeRange(`interval/${test.id}`), this.deleteMetrics(test.id), this.deleteData(test.id)]);
  }

  /**
   * Stores the content of a test's data files (`data/<test>/<index>`, UTF-8), apart from the test:
   * the test is rewritten on every change of state, its data never.
   */
  putData(testId: string, contents: readonly string[]): void {
    if (contents.length === 0) return;
    this.db.transactionSync(() => contents.forEach((c, i) => void this.db.put(`data/${testId}/${pad(i, 6)}`, Buffer.from(c, "utf8"))));
  }

  /** The content of a test's data files, in spec order (empty when none is stored). */
  getData(testId: string): string[] {
    return [...this.db.getRange(under(`data/${testId}`))].map(({ value }) => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"));
  }

  /** Drops the content of a test's data files and its client key (once the test can no longer start). */
  async deleteData(testId: string): Promise<void> {
    await Promise.all([this.removeRange(`data/${testId}`), this.db.remove(`tlskey/${testId}`)]);
  }

  /** Stores the private key of a test's client certificate apart from the test (orchestrator/tls-key.ts). */
  putTlsKey(testId: string, key: string): void {
    if (key !== "") this.db.putSync(`tlskey/${testId}`, Buffer.from(key, "utf8"));
  }

  /** The private key of a test's client certificate, when one is stored. */
  getTlsKey(testId: string): string | undefined {
    const v = this.db.get(`tlskey/${testId}`) as Uint8Array | undefined;
    return v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("utf8") : undefined;
  }

  /** Stores a driver (asynchronously). */
  putDriver(driver: Driver): void {
    if (this.closed) return; // a restart rebuilds drivers from their next heartbeat
    void this.db.put(`driver/${driver.id}`, toBinary(DriverSchema, driver));
  }

  /** Forgets a driver. */
  deleteDriver(id: string): void {
    if (this.closed) return;
    void this.db.remove(`driver/${id}`);
  }

  /** Every known driver. */
  listDrivers(): Driver[] {
    return [...this.db.getRange(under("driver"))].map(({ value }) => fromBinary(DriverSchema, value));
  }

  /** True when this driver interval was stored before: applying is idempotent on it. */
  hasMetrics(key: string): boolean {
    return this.db.doesExist(key);
  }

  /** Stores a batch of driver intervals (as received) in one transaction; resolves once committed. */
  async putMetricsBatch(records: readonly StoredMetrics[]): Promise<void> {
    if (records.length === 0) return;
    await this.db.transaction(() => {
      for (const r of records) void this.db.put(r.key, r.value);
    });
  }

  /** A test's stored driver intervals, read lazily, interval by interval (seq, then driver). */
  *metricsOf(testId: string): Generator<MetricsMessage> {
    for (const { value } of this.db.getRange(under(`m/${testId}`))) yield fromBinary(MetricsMessageSchema, value);
  }

  /** Drops a test's raw driver intervals and losses (once its report is stored, the merged intervals remain). */
  async deleteMetrics(testId: string): Promise<void> {
    await Promise.all([this.removeRange(`m/${testId}`), this.removeRange(`loss/${testId}`)]);
  }

  /** Stores a driver's loss (asynchronously; the same loss stored again changes nothing). */
  async putLoss(testId: string, loss: StoredLoss): Promise<boolean> {
    return this.db.put(lossKey(testId, loss.at, loss.driverId), toBinary(DriverReportSchema, create(DriverReportSchema, { driverId: loss.driverId, message: loss.message })));
  }

  /** A test's stored losses, in the order the replay applies them. */
  *lossesOf(testId: string): Generator<StoredLoss> {
    const prefix = `loss/${testId}/`;
    for (const { key, value } of this.db.getRange(under(`loss/${testId}`))) {
      const r = fromBinary(DriverReportSchema, value);
      yield { at: Number(key.slice(prefix.length, prefix.length + 12)), driverId: r.driverId, message: r.message };
    }
  }

  /** Stores one merged interval (asynchronously; with its histograms, for exact downsampling). */
  async putInterval(testId: string, stats: Stats): Promise<boolean> {
    return this.db.put(intervalKey(testId, stats.interval), toBinary(StatsSchema, stats));
  }

  /** A test's merged intervals in order, from interval `from` on, read lazily. */
  *intervalsOf(testId: string, from = 0): Generator<Stats> {
    for (const { value } of this.db.getRange({ start: intervalKey(testId, from), end: under(`interval/${testId}`).end }))
      yield fromBinary(StatsSchema, value);
  }

  /** Resolves once every write issued so far is committed. */
  async committed(): Promise<void> {
    await this.db.committed;
  }

  /** Stores the final report, as bytes, so that it is served byte for byte after a restart. */
  putReport(report: Report): void {
    this.db.putSync(`report/${report.testId}`, toBinary(ReportSchema, report));
  }

  /** The stored report's bytes, or undefined. */
  getReportBytes(testId: string): Uint8Array | undefined {
    const v = this.db.get(`report/${testId}`);
    return v ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : undefined;
  }

  /** The stored report, or undefined. */
  getReport(testId: string): Report | undefined {
    const v = this.getReportBytes(testId);
    return v ? fromBinary(ReportSchema, v) : undefined;
  }

  /** Bytes the database file takes on disk. */
  sizeBytes(): number {
    const stats = this.db.getStats() as { treeBranchPageCount?: number; treeLeafPageCount?: number; overflowPages?: number; pageSize?: number };
    return ((stats.treeBranchPageCount ?? 0) + (stats.treeLeafPageCount ?? 0) + (stats.overflowPages ?? 0)) * (stats.pageSize ?? 4096);
  }

  /**
   * Closes the database (once; a second call waits for the first). From here on the store refuses
   * every use (see `db`). lmdb resets its read transaction in a `setTimeout(0)` after a read, so
   * the close waits one timer turn first.
   */
  close(): Promise<void> {
    this.closed ??= new Promise((resolve) => setTimeout(resolve, 0)).then(() => this.handle.close());
    return this.closed;
  }

  /** Removes every key under `prefix/`. */
  private async removeRange(prefix: string): Promise<void> {
    let last: Promise<boolean> | undefined;
    for (const key of this.db.getKeys(under(prefix))) last = this.db.remove(key);
    await last;
  }
}
