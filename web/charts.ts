/**
 * The dashboard's uPlot charts, one per entry of CHARTS (format.ts), fed interval by interval: x is
 * the elapsed time in seconds since the test's start, y starts at 0, axis labels are whole
 * ("20,000"), a partial last interval is left out of the rate lines (and said so), and the legend
 * shows the last values until the cursor points at another interval. The tick texts drawn on the
 * canvas are also written to the chart's `data-x-ticks` / `data-y-ticks` (" | "-separated), for
 * tests and assistive tools.
 */
import uPlot from "uplot";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { CHARTS, chartNumber, chartPoint, type ChartPoint } from "./format.js";

/** Seconds on the x axis: "12 s", "1.5 s". */
export const seconds = (v: number) => `${chartNumber(v)} s`;

/** The last non-null value of a series. */
function lastOf(ys: ArrayLike<number | null | undefined>): number | null {
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) return ys[i]!;
  return null;
}

/**
 * The uPlot options of one chart in `el`: x is elapsed seconds from 0, y from 0, whole labels (their
 * texts also in `el`'s data-x-ticks / data-y-ticks), the legend's values the last interval's when the
 * cursor points at none. Shared by the test charts and the per-step chart (step-chart.ts).
 */
export function plotOptions(el: HTMLElement, title: string, width: number, series: readonly { label: string; color: string }[]): uPlot.Options {
  const ticks = (axis: "x" | "y", format: (v: number) => string) => (_u: uPlot, splits: number[]) => {
    const texts = splits.map((v) => (v == null ? "" : format(v)));
    el.dataset[`${axis}Ticks`] = texts.join(" | ");
    return texts;
  };
  return {
    title,
    width,
    height: 200,
    scales: { x: { time: false, range: (_u, _min, max) => [0, max > 0 ? max : 1] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { label: "elapsed (s)", values: ticks("x", seconds) },
      // Wide enough for its longest label ("20,000"), so none is clipped.
      { values: ticks("y", chartNumber), size: (_u, values) => 26 + 8 * Math.max(3, ...(values ?? []).map((v) => v.length)) },
    ],
    series: [
      { label: "elapsed", value: (u, v, _s, idx) => (idx == null ? lastLabel(lastOf(u.data[0]), seconds) : seconds(v)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        value: (u: uPlot, v: number | null, _s: number, idx: number | null) => lastLabel(idx == null ? lastOf(u.data[i + 1]!) : v, chartNumber),
      })),
    ],
  };
}

/** Every chart of a test view. */
export class Charts {
  private readonly points: ChartPoint[] = [];
  private readonly plots: uPlot[];
  private readonly note: HTMLElement;

  /** `originMs`: the test's start; `nominalMs`: its report interval. */
  constructor(
    root: HTMLElement,
    private readonly originMs: number,
    private readonly nominalMs: number,
  ) {
    root.insertAdjacentHTML(
      "beforeend",
      `<p id="charts-note" class="muted">waiting for the first interval…</p><div class="charts">${CHARTS.map((c) => `<div id="chart-${c.id}" class="chart"></div>`).join("")}</div>`,
    );
    this.note = document.getElementById("charts-note")!;
    // Each chart fills its grid cell (three across on a wide window, one on a narrow one).
    const width = Math.max(260, document.getElementById(`chart-${CHARTS[0]!.id}`)!.clientWidth - 8);
    this.plots = CHARTS.map((c) => {
      const el = document.getElementById(`chart-${c.id}`)!;
      return new uPlot(plotOptions(el, c.title, width, c.series), this.data(c.series), el);
    });
  }

  /** Points plotted so far. */
  get count(): number {
    return this.points.length;
  }

  /** Plots one more interval. */
  add(s: Stats): void {
    const p = chartPoint(s, this.originMs, this.nominalMs);
    this.points.push(p);
    CHARTS.forEach((c, i) => {
      const plot = this.plots[i]!;
      plot.setData(this.data(c.series));
      plot.setLegend({ idx: null as unknown as number }); // the last values, until the cursor moves
    });
    const partial = p.partial ? ` The last interval (${p.elapsedS.toFixed(1)} s) is partial: cut short by the end, it is left out of the rate lines.` : "";
    this.note.textContent = `${this.points.length} interval${this.points.length === 1 ? "" : "s"}, to ${seconds(p.elapsedS)}.${partial}`;
    document.body.dataset.chartPoints = String(this.points.length);
  }

  private data(series: (typeof CHARTS)[number]["series"]): uPlot.AlignedData {
    return [this.points.map((p) => p.elapsedS), ...series.map((s) => this.points.map((p) => s.value(p)))];
  }
}

/** A legend value, "–" when there is none. */
function lastLabel(v: number | null | undefined, format: (v: number) => string): string {
  return v == null ? "–" : format(v);
}
