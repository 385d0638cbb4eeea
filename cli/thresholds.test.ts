import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { LatencyStatsSchema, StatsSchema } from "../gen/kannon/v1/report_pb.js";
import { formatMeasured, judgedLive, parseThreshold, passes } from "./thresholds.js";

const stats = create(StatsSchema, {
  requests: 1000n,
  errors: 5n,
  requestsPerS: 512.5,
  latency: create(LatencyStatsSchema, { p50Us: 800n, p99Us: 180_000n, p999Us: 900_000n, maxUs: 1_200_000n, meanUs: 2500 }),
});

describe("thresholds", () => {
  it("parse units: latency in us/ms/s (ms by default), error_rate as % or fraction, counts plain", () => {
    expect(parseThreshold("p99<200ms")).toMatchObject({ metric: "p99", op: "<", limit: 200_000 });
    expect(parseThreshold(" p95 <= 1s ")).toMatchObject({ metric: "p95", op: "<=", limit: 1_000_000 });
    expect(parseThreshold("p99.9<900us")).toMatchObject({ metric: "p99.9", limit: 900 });
    expect(parseThreshold("max<2")).toMatchObject({ limit: 2000 });
    expect(parseThreshold("error_rate<1%")).toMatchObject({ limit: 0.01 });
    expect(parseThreshold("error_rate<0.02")).toMatchObject({ limit: 0.02 });
    expect(parseThreshold("rps>=500")).toMatchObject({ metric: "rps", op: ">=", limit: 500 });
  });

  it("judge the merged numbers; upper bounds are judged live, lower bounds at the end", () => {
    const verdict = (t: string) => passes(parseThreshold(t), stats);
    expect(verdict("p99<200ms")).toBe(true);
    expect(verdict("p99<180ms")).toBe(false);
    expect(verdict("p99<=180ms")).toBe(true);
    expect(verdict("p99.9<1s")).toBe(true);
    expect(verdict("max<1s")).toBe(false);
    expect(verdict("error_rate<1%")).toBe(true);
    expect(verdict("error_rate<0.4%")).toBe(false);
    expect(verdict("rps>=500")).toBe(true);
    expect(verdict("rps>600")).toBe(false);
    expect(verdict("errors<=5")).toBe(true);
    expect(judgedLive(parseThreshold("p99<1s"))).toBe(true);
    expect(judgedLive(parseThreshold("rps>=500"))).toBe(false);
    expect(formatMeasured(parseThreshold("p99<1s"), stats)).toBe("180.00 ms");
    expect(formatMeasured(parseThreshold("error_rate<1%"), stats)).toBe("0.50%");
    expect(formatMeasured(parseThreshold("rps>1"), stats)).toBe("512.5");
  });

  it("refuse what they cannot read, naming it", () => {
    expect(() => parseThreshold("p99")).toThrow(/not METRIC OP VALUE/);
    expect(() => parseThreshold("p42<1ms")).toThrow(/unknown metric "p42"/);
    expect(() => parseThreshold("rps>=5ms")).toThrow(/rps takes a plain number/);
    expect(() => parseThreshold("error_rate<1ms")).toThrow(/fraction \(0.01\) or a percentage/);
  });
});
