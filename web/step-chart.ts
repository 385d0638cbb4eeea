/**
 * A scenario test's latency per step over time (uPlot): one line per chosen step, x the elapsed
 * seconds since the start, y the chosen percentile (p50, p90 or p99) in ms of the step's succeeded
 * requests in each interval. Checkboxes choose the steps plotted (the first
 * {@link DEFAULT_STEPS_SHOWN} at first), a select the percentile. A test without scenarios gets nothing.
 */
import uPlot from "uplot";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { plotOptions } from "./charts.js";
import { chartPoint, esc } from "./format.js";

/** How many steps are plotted before the user chooses. */
export const DEFAULT_STEPS_SHOWN = 5;

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const PERCENTILES = { p50: "p50Us", p90: "p90Us", p99: "p99Us" } as const;
type Percentile = keyof typeof PERCENTILES;

/** "scenario/step" of each step, by its index in the test's flattened steps (scenario.proto). */
export function stepLabels(spec: TestSpec | undefined): string[] {
  return (spec?.scenarios ?? []).flatMap((sc) => sc.steps.map((st) => `${sc.name}/${st.name}`));
}

/** The per-step latency chart of a test view, with its chooser. */
export class StepChart {
  private readonly labels: string[];
  private readonly chosen = new Set<number>();
  private percentile: Percentile = "p99";
  private readonly intervals: { elapsedS: number; steps: Stats["steps"] }[] = [];
  private readonly el: HTMLElement | undefined;
  private plot: uPlot | undefined;

  /** `originMs`: the test's start; `nominalMs`: its report interval (as {@link chartPoint}). */
  constructor(
    root: HTMLElement,
    spec: TestSpec | undefined,
    private readonly originMs: number,
    private readonly nominalMs: number,
  ) {
    this.labels = stepLabels(spec);
    if (this.labels.length === 0) return;
    for (let i = 0; i < Math.min(DEFAULT_STEPS_SHOWN, this.labels.length); i++) this.chosen.add(i);
    const boxes = this.labels
      .map((l, i) => `<label class="step-choice"><input type="checkbox" data-step="${i}"${this.chosen.has(i) ? " checked" : ""}> <span style="color:${COLORS[i % COLORS.length]}">■</span> ${esc(l)}</label>`)
      .join("");
    const options = Object.keys(PERCENTILES).map((p) => `<option${p === this.percentile ? " selected" : ""}>${p}</option>`).join("");
    root.insertAdjacentHTML(
      "beforeend",
      `<h3>Latency per step</h3><div id="step-chooser"><label class="step-choice">percentile <select id="step-percentile">${options}</select></label> ${boxes}</div><div id="chart-steps" class="chart"></div>`,
    );
    this.el = document.getElementById("chart-steps")!;
    document.getElementById("step-chooser")!.addEventListener("change", (ev) => {
      const t = ev.target as HTMLInputElement | HTMLSelectElement;
      if (t.id === "step-percentile") this.percentile = t.value as Percentile;
      else if (t instanceof HTMLInputElement && t.dataset.step) {
        const i = Number(t.dataset.step);
        if (t.checked) this.chosen.add(i);
        else this.chosen.delete(i);
      }
      this.redraw();
    });
    this.redraw();
  }

  /** Plots one more interval. */
  add(s: Stats): void {
    if (!this.el) return;
    this.intervals.push({ elapsedS: chartPoint(s, this.originMs, this.nominalMs).elapsedS, steps: s.steps });
    this.plot?.setData(this.data());
    this.plot?.setLegend({ idx: null as unknown as number });
  }

  private shown(): number[] {
    return [...this.chosen].sort((a, b) => a - b);
  }

  private data(): uPlot.AlignedData {
    const key = PERCENTILES[this.percentile];
    const columns = this.shown().map((step) =>
      this.intervals.map((i) => {
        const l = i.steps.find((st) => st.stepIndex === step)?.stats?.latency;
        return l && l.count > 0n ? Number(l[key]) / 1000 : null; // no succeeded request: a gap, not 0 ms
      }),
    );
    return [this.intervals.map((i) => i.elapsedS), ...columns];
  }

  /** Builds the plot again for the chosen steps and percentile. */
  private redraw(): void {
    const el = this.el!;
    this.plot?.destroy();
    el.dataset.steps = this.shown().map((i) => this.labels[i]).join(" | ");
    const series = this.shown().map((i) => ({ label: this.labels[i]!, color: COLORS[i % COLORS.length]! }));
    const width = Math.max(260, Math.min(el.parentElement!.clientWidth, 720) - 8);
    this.plot = new uPlot(plotOptions(el, `latency ${this.percentile} per step (ms)`, width, series), this.data(), el);
    this.plot.setLegend({ idx: null as unknown as number });
  }
}
