/**
 * Inline SVG charts for the self-contained HTML report (no script, no network): line charts over
 * the elapsed time with ticked axes, and the latency percentile distribution on the log scale
 * HdrHistogram users expect (x: 50 % … 99.99 %, spaced by 1 / (1 − p)).
 */
import { chartNumber, esc } from "./format.js";

const W = 720;
const H = 240;
const PAD = { l: 64, r: 30, t: 26, b: 40 };

/** About `count` round tick values from 0 to at least `max` (1, 2 or 5 × a power of ten apart). */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** One line of a chart: its name, color and y values (null: a gap). */
export interface Line {
  name: string;
  color: string;
  ys: (number | null)[];
}

function frame(title: string, inner: string, xLabel: string, legend: Line[], key: string): string {
  const legendText = legend.map((s, i) => `<text x="${PAD.l + 8 + i * 110}" y="16" fill="${s.color}" font-size="12">${esc(s.name)}</text>`).join("");
  return (
    `<figure data-chart="${esc(key)}"><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(title)}">` +
    `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#999"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" stroke="#999"/>` +
    `<text x="${(PAD.l + W - PAD.r) / 2}" y="${H - 4}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>${legendText}${inner}</svg></figure>`
  );
}

/** Y ticks with grid lines and labels ("20,000"), for values up to `maxY`; returns the ticks' top and the markup. */
function yAxis(maxY: number, unit: string): { top: number; svg: string } {
  const ticks = niceTicks(maxY);
  const top = ticks[ticks.length - 1]!;
  const y = (v: number) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const svg = ticks
    .map(
      (v) =>
        `<line x1="${PAD.l - 4}" y1="${y(v).toFixed(1)}" x2="${W - PAD.r}" y2="${y(v).toFixed(1)}" stroke="#eee"/>` +
        `<text class="y-tick" x="${PAD.l - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${esc(chartNumber(v))}</text>`,
    )
    .join("");
  return { top, svg: `${svg}<text x="4" y="${PAD.t - 8}" font-size="11">${esc(unit)}</text>` };
}

/** A line chart over the elapsed time in seconds (x ticks "0 s", "5 s", …); null values break the line. */
export function lineChart(title: string, xs: number[], lines: Line[], unit: string): string {
  const maxX = Math.max(1e-9, ...xs);
  const xTicks = niceTicks(maxX, 6);
  const right = xTicks[xTicks.length - 1]!;
  const { top, svg: ySvg } = yAxis(Math.max(0, ...lines.flatMap((l) => l.ys.filter((v): v is number => v != null))), unit);
  const x = (v: number) => PAD.l + (v / right) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const xSvg = xTicks
    .map((v) => `<line x1="${x(v).toFixed(1)}" y1="${H - PAD.b}" x2="${x(v).toFixed(1)}" y2="${H - PAD.b + 4}" stroke="#999"/><text class="x-tick" x="${x(v).toFixed(1)}" y="${H - PAD.b + 16}" font-size="11" text-anchor="middle">${esc(chartNumber(v))} s</text>`)
    .join("");
  const paths = lines
    .map((l) => {
      const segments: string[][] = [[]];
      l.ys.forEach((v, i) => (v == null ? segments.push([]) : segments[segments.length - 1]!.push(`${x(xs[i]!).toFixed(1)},${y(v).toFixed(1)}`)));
      return segments
        .filter((s) => s.length > 0)
        .map((s) => `<polyline fill="none" stroke="${l.color}" stroke-width="1.5" points="${s.join(" ")}"><title>${esc(l.name)}</title></polyline>`)
        .join("");
    })
    .join("");
  return frame(title, ySvg + xSvg + paths, "elapsed since the start (s)", lines, title);
}

/** The percentiles the distribution plot marks on its x axis. */
const DISTRIBUTION_TICKS = [50, 90, 99, 99.9, 99.99];

/**
 * Latency by percentile (ms), x on a log scale of 1 / (1 − p) from 50 % to 99.99 %; `points` are
 * [percentile, ms]; `maxMs`, when given, is drawn as a dashed line (the slowest request).
 */
export function percentileChart(title: string, points: [number, number][], maxMs: number | undefined): string {
  const pos = (p: number) => Math.log10(1 / (1 - Math.min(p, 99.99) / 100));
  const right = pos(99.99);
  const left = pos(50);
  const { top, svg: ySvg } = yAxis(Math.max(0, maxMs ?? 0, ...points.map(([, v]) => v)), "ms");
  const x = (p: number) => PAD.l + ((pos(p) - left) / (right - left)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const xSvg = DISTRIBUTION_TICKS.map(
    (p) => `<line x1="${x(p).toFixed(1)}" y1="${PAD.t}" x2="${x(p).toFixed(1)}" y2="${H - PAD.b + 4}" stroke="#eee"/><text class="x-tick" x="${x(p).toFixed(1)}" y="${H - PAD.b + 16}" font-size="11" text-anchor="middle">${p} %</text>`,
  ).join("");
  const line = `<polyline fill="none" stroke="#9467bd" stroke-width="1.5" points="${points.map(([p, v]) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"><title>latency</title></polyline>`;
  const dots = points.map(([p, v]) => `<circle cx="${x(p).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="#9467bd"><title>p${p}: ${esc(chartNumber(v))} ms</title></circle>`).join("");
  const max =
    maxMs === undefined
      ? ""
      : `<line x1="${PAD.l}" y1="${y(maxMs).toFixed(1)}" x2="${W - PAD.r}" y2="${y(maxMs).toFixed(1)}" stroke="#d62728" stroke-dasharray="4 3"/><text x="${W - PAD.r - 4}" y="${(y(maxMs) - 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#d62728">max ${esc(chartNumber(maxMs))} ms</text>`;
  return frame(title, ySvg + xSvg + line + dots + max, "percentile (log scale of 1 / (1 − p))", [{ name: "latency", color: "#9467bd", ys: [] }], title);
}
