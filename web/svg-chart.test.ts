import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { StatsSchema } from "../gen/kannon/v1/report_pb.js";
import { chartNumber, chartPoint, isPartialInterval } from "./format.js";
import { lineChart, niceTicks, percentileChart } from "./svg-chart.js";

const at = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

describe("chart axes and points", () => {
  it("ticks are round steps from 0 past the maximum, labelled whole", () => {
    expect(niceTicks(20_000)).toEqual([0, 5000, 10_000, 15_000, 20_000]);
    expect(niceTicks(3.1, 6)).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(0)).toEqual([0, 1]); // nothing to show: 0 … 1, never 1e-9
    expect(chartNumber(20_000)).toBe("20,000");
    expect(chartNumber(0.25)).toBe("0.25");
  });

  it("a point's x is the seconds from the test's start to its interval's end; a partial interval has no rate", () => {
    const whole = create(StatsSchema, { interval: 1, start: at(11_000), end: at(12_000), requestsPerS: 400, errors: 2n, requests: 400n });
    const p = chartPoint(whole, 10_000, 1000);
    expect([p.elapsedS, p.rps, p.eps, p.partial, p.p50]).toEqual([2, 400, 2, false, null]); // no latency sample: a gap
    const cut = create(StatsSchema, { interval: 2, start: at(12_000), end: at(12_300), requestsPerS: 30, requests: 9n });
    expect(isPartialInterval(cut, 1000)).toBe(true);
    expect(chartPoint(cut, 10_000, 1000)).toMatchObject({ elapsedS: 2.3, rps: null, eps: null, partial: true });
  });

  it("the SVG line chart writes its ticks in seconds and whole numbers and breaks a line at a gap", () => {
    const svg = lineChart("requests / s", [1, 2, 3], [{ name: "req/s", color: "#000", ys: [20_000, null, 19_000] }], "req/s");
    expect([...svg.matchAll(/class="x-tick"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(["0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s", "3 s"]);
    expect([...svg.matchAll(/class="y-tick"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(["0", "5,000", "10,000", "15,000", "20,000"]);
    expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
  });

  it("the percentile distribution spaces 50 % … 99.99 % by 1 / (1 − p)", () => {
    const svg = percentileChart("latency", [[50, 1], [99, 5]], 9);
    const xs = [...svg.matchAll(/class="x-tick" x="([\d.]+)"[^>]*>([^<]*)</g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(xs.map(([, t]) => t)).toEqual(["50 %", "90 %", "99 %", "99.9 %", "99.99 %"]);
    // Each decade of 1 / (1 − p) (10, 100, 1000, 10000) is the same width.
    const gaps = xs.slice(2).map(([x], i) => x - xs[i + 1]![0]);
    for (const g of gaps) expect(Math.abs(g - gaps[0]!)).toBeLessThan(0.25); // x is written to 0.1 px
    expect(svg).toContain("max 9 ms");
  });
});
