import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { open, type RootDatabase } from "lmdb";
import { MetricsMessageSchema, type MetricsMessage } from "../gen/kannon/v1/bus_pb.js";
import { DriverSchema, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { ReportSchema, type Report } from "../gen/kannon/v1/report_pb.js";
import { TestSchema, type Test } from "../gen/kannon/v1/test_pb.js";

const pad = (n: bigint | number) => n.toString().padStart(12, "0");
const metricsKey = (m: MetricsMessage) => `metrics/${m.testId}/${m.driverId}/${pad(m.seq)}`;

/**
 * The orchestrator's durable state in LMDB, every value a binary protobuf:
 * `test/<id>`, `driver/<id>`, `metrics/<test>/<driver>/<seq>`, `report/<id>`.
 * Writes are synchronous so that an RPC answers only after its change is stored.
 */
export class Store {
  private readonly db: RootDatabase<Uint8Array, string>;

  constructor(dataDir: string) {
    this.db = open<Uint8Array, string>({ path: dataDir, encoding: "binary", compression: false });
  }

  /** Stores a test. */
  putTest(test: Test): void {
    this.db.putSync(`test/${test.id}`, toBinary(TestSchema, test));
  }

  /** A test, or undefined. */
  getTest(id: string): Test | undefined {
    const v = this.db.get(`test/${id}`);
    return v ? fromBinary(TestSchema, v) : undefined;
  }

  /** Every test, in key order. */
  listTests(): Test[] {
    return [...this.db.getRange({ start: "test/", end: "test/\uffff" })].map(({ value }) => fromBinary(TestSchema, value));
  }

  /** Stores a driver. */
  putDriver(driver: Driver): void {
    this.db.putSync(`driver/${driver.id}`, toBinary(DriverSchema, driver));
  }

  /** Every known driver. */
  listDrivers(): Driver[] {
    return [...this.db.getRange({ start: "driver/", end: "driver/\uffff" })].map(({ value }) => fromBinary(DriverSchema, value));
  }

  /** True when this (test, driver, seq) was stored before: applying is idempotent on it. */
  hasMetrics(m: MetricsMessage): boolean {
    return this.db.doesExist(metricsKey(m));
  }

  /** Stores one interval of a driver's metrics (after it was applied). */
  putMetrics(m: MetricsMessage): void {
    this.db.putSync(metricsKey(m), toBinary(MetricsMessageSchema, m));
  }

  /** Every stored interval of a test, ordered by driver then seq. */
  listMetrics(testId: string): MetricsMessage[] {
    return [...this.db.getRange({ start: `metrics/${testId}/`, end: `metrics/${testId}/\uffff` })].map(({ value }) =>
      fromBinary(MetricsMessageSchema, value),
    );
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

  close(): Promise<void> {
    return this.db.close();
  }
}
