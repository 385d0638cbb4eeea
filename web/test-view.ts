/**
 * A test live (WatchTest: everything so far first, then every interval) and its report: req/s,
 * errors/s and latency p50/p90/p99 per interval as uPlot charts, the cumulative numbers, and the
 * per-driver table; the report page also offers the report as JSON and CSV downloads.
 */
import type { DriverProgress } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { isEnded } from "../metrics/outcome.js";
import { api, createAndOpen, showError } from "./client.js";
import { allIntervals, intervalsCsv, reportJson } from "./exports.js";
import { Charts } from "./charts.js";
import { StepChart } from "./step-chart.js";
import { scenariosHtml, stepsHtml } from "./step-tables.js";
import { driversReportHtml, rerunBlocker, duration, errorKindsHtml, esc, ms, msAt, numbersHtml, stateClass, verdictHtml, workloadName } from "./format.js";

const header = (t: Test) =>
  `<h2>${esc(t.spec?.name || "Test")} <small class="${stateClass(TestState[t.state]!, t.outcome)}" id="test-state">${TestState[t.state]}</small></h2>
   <p id="test-verdict">${verdictHtml(t.outcome)}</p>
   <p><code>${esc(t.id)}</code> · ${esc(workloadName(t.spec))} against ${esc(t.spec?.targetUrl ?? "")} · ${t.driverIds.length} driver${t.driverIds.length === 1 ? "" : "s"}${t.endedAt ? ` · ran ${duration(t.startAt, t.endedAt)}` : ""}${t.message ? ` · ${esc(t.message)}` : ""}</p>`;

/** A scenario test's per-step, per-check and per-scenario tables under a heading; nothing for a single-request test. */
const stepsSection = (s: Stats | undefined) => (s?.steps.length ? `<h3>Per step</h3>${stepsHtml(s)}${scenariosHtml(s)}` : "");

function driversTable(rows: DriverProgress[]): string {
  return `<table><thead><tr><th>driver</th><th>state</th><th>requests</th><th>last interval</th><th>start skew</th></tr></thead><tbody>${rows
    .map(
      (d) =>
        `<tr><td>${esc(d.driverId)}</td><td>${d.finished ? "finished" : d.lost ? "lost" : "running"}</td><td>${d.requests}</td><td>${d.lastSeq}</td><td>${ms(d.startSkewUs)}</td></tr>`,
    )
    .join("")}</tbody></table>`;
}

/**
 * The live view: subscribes to the test, then draws the intervals stored before it subscribed
 * (a page opened mid-test shows everything so far), then every streamed one, until the report.
 */
export async function liveTestPage(root: HTMLElement, id: string, signal: AbortSignal): Promise<void> {
  root.innerHTML = `<div id="live-head"></div><div class="kv" id="cumulative"></div><div id="live-steps"></div>`;
  const stream = api.watchTest({ testId: id }, { signal })[Symbol.asyncIterator]();
  const first = await stream.next(); // subscribed: what is stored now is everything before the stream
  const charts = chartsOf(root, first.done ? undefined : first.value.test);
  root.insertAdjacentHTML("beforeend", `<div id="live-errors"></div><h3>Drivers</h3><div id="live-drivers"></div><p id="live-actions"></p>`);
  const drawn = new Set<number>();
  const draw = (s: Stats) => {
    if (drawn.has(s.interval)) return;
    drawn.add(s.interval);
    charts.add(s);
  };
  for (const s of await allIntervals(api, id)) draw(s);
  for (let r = first; !r.done; r = await stream.next()) {
    const m = r.value;
    if (m.test) document.getElementById("live-head")!.innerHTML = header(m.test);
    if (m.cumulative) {
      document.getElementById("cumulative")!.innerHTML = numbersHtml(m.cumulative);
      document.getElementById("live-errors")!.innerHTML = errorKindsHtml(m.cumulative);
      document.getElementById("live-steps")!.innerHTML = stepsSection(m.cumulative);
    }
    if (m.interval) draw(m.interval);
    if (m.drivers.length > 0) document.getElementById("live-drivers")!.innerHTML = driversTable(m.drivers);
    const running = m.test && !isEnded(m.test.state);
    document.getElementById("live-actions")!.innerHTML = m.report
      ? `<a id="open-report" href="#/report/${esc(id)}">Open the report</a>`
      : running
        ? `<button id="cancel-test">Cancel</button>`
        : "";
    document.getElementById("cancel-test")?.addEventListener("click", () => void api.cancelTest({ testId: id }));
  }
}

/**
 * The charts of a test, and for a scenario test its latency per step: x from its start (or, before
 * it started, from the interval's index × the report interval).
 */
function chartsOf(root: HTMLElement, t: Test | undefined): { add(s: Stats): void } {
  const origin = t?.startAt ? msAt(t.startAt) : Number.NaN;
  const nominal = t?.spec?.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
  const charts = new Charts(root, origin, nominal);
  const steps = new StepChart(root, t?.spec, origin, nominal);
  return {
    add(s) {
      charts.add(s);
      steps.add(s);
    },
  };
}

function download(name: string, type: string, text: string): string {
  return `<a download="${esc(name)}" href="${URL.createObjectURL(new Blob([text], { type }))}">${esc(name)}</a>`;
}

/** The final report of an ended test, with its exports (the CSV has every interval at full resolution). */
export async function reportPage(root: HTMLElement, id: string): Promise<void> {
  const [{ test }, { report }, intervals] = await Promise.all([api.getTest({ testId: id }), api.getReport({ testId: id }), allIntervals(api, id)]);
  const r = report as Report;
  const blocker = rerunBlocker(test!.spec);
  const rerun = `<p><button id="rerun"${blocker ? ` disabled title="${esc(blocker)}"` : ' title="a new test with the same spec, started now"'}>Run again</button>${blocker ? ` <span class="muted" id="rerun-why">cannot run again here: ${esc(blocker)}</span>` : ""}</p>`;
  root.innerHTML = `${header(test!)}${rerun}<h3>Report${r.partial ? " (partial)" : ""}</h3><div class="kv" id="report-total">${numbersHtml(r.total)}</div>${stepsSection(r.total)}${errorKindsHtml(r.total)}`;
  const charts = chartsOf(root, test);
  for (const s of r.intervals) charts.add(s);
  root.insertAdjacentHTML(
    "beforeend",
    `<p>${r.intervalStep > 1 ? `Each point merges ${r.intervalStep} intervals (of ${r.intervalCount}). ` : ""}Exports:
       ${download(`kannon-${id}.json`, "application/json", reportJson(r))} ·
       ${download(`kannon-${id}.csv`, "text/csv", intervalsCsv(intervals))}
       (or <code>kannon report ${esc(id)} --api ${esc(location.origin)} --format html</code>) · <a id="compare-with" href="#/compare/${esc(id)}">compare with another run</a></p>
     <h3>Drivers</h3>${driversReportHtml(r)}`,
  );
  const button = document.getElementById("rerun") as HTMLButtonElement;
  button.addEventListener("click", () => {
    button.disabled = true;
    void createAndOpen(test!.spec!, true).catch((err) => {
      button.disabled = false;
      showError(err);
    });
  });
}
