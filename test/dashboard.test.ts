/**
 * The web dashboard in real Chromium (Debian's, driven by playwright-core) against a running
 * embedded fleet: the fleet page shows the drivers, the new-test form shows the server's field
 * error for a bad value and then creates and starts a test, the live page's charts gain points,
 * and the report opens. Screenshots go to test-results/screenshots/ (ignored by git);
 * `npm run screenshots` runs this test and copies them to docs/screenshots/ (linked from the README).
 * The browser comes from test/chromium-global-setup.ts, which installs Debian's Chromium when it is
 * missing: this test fails, it does not skip, when there is no browser.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowserPage } from "./browser-page.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { reportHtml } from "../web/exports.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { startServer } from "../orchestrator/server.js";
import { percentileDistribution } from "../metrics/histogram.js";
import { readSpecFile } from "../cli/spec-file.js";
import { closedPort, spec, until } from "./helpers.js";

const shots = join(import.meta.dirname, "..", "test-results", "screenshots");

describe("web dashboard (real Chromium)", () => {
  let fleet: Embedded;
  let browser: Browser;
  let page: Page;
  let errors: string[] = [];
  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    fleet = await startEmbedded({ drivers: 2 });
    ({ browser, page, errors } = await openBrowserPage({ width: 1100, height: 900 }));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await fleet?.close();
  });

  it("shows the fleet, creates and starts a test through the form (after a field error), streams it live, opens the report", async () => {
    const base = fleet.server.url;
    await page.goto(`${base}/#/fleet`);
    await page.waitForSelector("tr[data-driver='driver-2']", { timeout: 15_000 });
    expect(await page.locator("tr[data-driver]").count()).toBe(2);
    expect(await page.locator("#fleet-count").textContent()).toBe("2 drivers, 2 ready");
    await page.screenshot({ path: join(shots, "fleet.png") });

    // Ages, not instants: the last heartbeat's text moves between two reads.
    const beat = page.locator("tr[data-driver='driver-1'] td[data-heartbeat]");
    const firstAge = await beat.textContent();
    expect(firstAge).toMatch(/^\d+ s ago$/);
    await expect.poll(() => beat.textContent(), { timeout: 5_000, interval: 300 }).not.toBe(firstAge);
    expect(await page.locator("header a[aria-current='page']").textContent()).toBe("Fleet");

    await page.goto(`${base}/#/new`);
    await page.waitForSelector("#new-test");
    // The form's target is the fleet's built-in one (ListDrivers' default_target_url), not a dead port.
    await expect.poll(() => page.inputValue("[name='spec.target_url']")).toBe(`${fleet.target!.url}/ping`);
    expect(await page.locator("header a[aria-current='page']").textContent()).toBe("New test");
    // A number the wire cannot carry is named next to its field, in words, before any request.
    await page.fill("[name='spec.avalanche.concurrency']", "-5");
    await page.click("button[value='1']");
    await expect.poll(() => page.locator("[data-field='spec.avalanche.concurrency'] .problem").textContent()).toBe("must be 0 or more, not -5");
    await page.fill("[name='spec.name']", "from the dashboard");
    await page.fill("[name='spec.report_interval_ms']", "250");
    await page.selectOption("[name='workload']", "tsunami");
    await page.fill("[name='spec.tsunami.delay_ms']", "0");
    await page.fill("[name='spec.tsunami.duration_ms']", "3000");
    await page.click("button[value='1']");
    const problem = page.locator("[data-field='spec.tsunami.delay_ms'] .problem");
    await expect.poll(() => problem.textContent(), { timeout: 10_000 }).toMatch(/must be at least 1/);
    await page.screenshot({ path: join(shots, "new-test-field-error.png") });

    await page.fill("[name='spec.tsunami.delay_ms']", "5");
    await page.click("button[value='1']");
    await page.waitForURL(/#\/test\//, { timeout: 10_000 });
    expect(await page.locator("header a[aria-current='page']").textContent()).toBe("Tests");
    await page.waitForFunction(() => Number(document.body.dataset.chartPoints ?? 0) >= 3, undefined, { timeout: 15_000 });
    const points = Number(await page.evaluate(() => document.body.dataset.chartPoints));
    await page.waitForFunction((n) => Number(document.body.dataset.chartPoints ?? 0) > n, points, { timeout: 15_000 });
    expect(await page.locator(".uplot").count()).toBe(3);
    // The x axis is the elapsed time in seconds; y labels are whole numbers ("1,200", never "0,000"
    // nor "1.00e-9"); the legend shows values, not "--".
    const ticks = async (chart: string, axis: "x" | "y") => (await page.locator(`#chart-${chart}`).getAttribute(`data-${axis}-ticks`))!.split(" | ");
    for (const chart of ["rps", "eps", "latency"]) {
      for (const t of await ticks(chart, "x")) expect(t).toMatch(/^\d+(\.\d+)? s$/);
      for (const t of await ticks(chart, "y")) expect(t).toMatch(/^\d{1,3}(,\d{3})*(\.\d+)?$/);
    }
    const rpsTicks = (await ticks("rps", "y")).map((t) => Number(t.replace(/,/g, "")));
    expect(Math.max(...rpsTicks)).toBeGreaterThanOrEqual(200); // 2 drivers every 5 ms: 400 req/s
    expect(await ticks("eps", "y")).toContain("0");
    const legend = await page.locator("#chart-rps .u-legend .u-value").allTextContents();
    expect(legend.length).toBeGreaterThanOrEqual(2);
    for (const v of legend) expect(v).not.toMatch(/^-*$/);
    await page.screenshot({ path: join(shots, "live-test.png") });
    // A page opened mid-test first shows everything so far.
    const late = await browser.newPage();
    try {
      const shown = Number(await page.evaluate(() => document.body.dataset.chartPoints));
      await late.goto(page.url());
      await late.waitForFunction((n) => Number(document.body.dataset.chartPoints ?? 0) >= n, shown, { timeout: 10_000 });
    } finally {
      await late.close();
    }

    await page.waitForSelector("#open-report", { timeout: 20_000 });
    await page.click("#open-report");
    await page.waitForSelector("#report-drivers tbody tr", { timeout: 10_000 });
    expect(await page.locator("#report-drivers tbody tr").count()).toBe(2);
    expect(await page.locator("#test-state").textContent()).toBe("COMPLETED");
    expect(await page.locator("#test-verdict [data-verdict]").getAttribute("data-verdict")).toBe("passing");
    expect(await page.locator(".error-kinds").textContent()).toMatch(/HTTP 200\s*1200/);
    const total = await page.locator("#report-total div").first().textContent();
    expect(total).toMatch(/requests\s*1200/); // 2 drivers × 3000 ms / 5 ms
    await page.screenshot({ path: join(shots, "report.png"), fullPage: true });
    // The CSV download is `kannon report --format csv`'s format: every interval at full
    // resolution, the same columns, its requests summing to the total.
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 10_000 }), page.click("a[download$='.csv']")]);
    const [head, ...rows] = (await readFile(await download.path(), "utf8")).trim().split("\n");
    expect(head).toMatch(/^interval,start,end,requests,requests_per_s,errors,dropped,late,bytes_received,p50_us,/);
    const requestsCol = head!.split(",").indexOf("requests");
    expect(rows.reduce((sum, row) => sum + Number(row.split(",")[requestsCol]), 0)).toBe(1200);
    expect(rows.map((row) => Number(row.split(",")[0]))).toEqual(rows.map((_, i) => i));

    // A narrow window still shows the fleet (less important columns hidden).
    await page.setViewportSize({ width: 380, height: 800 });
    await page.goto(`${base}/#/tests`);
    await page.waitForSelector("#tests tr");
    await page.screenshot({ path: join(shots, "tests-narrow.png") });
    await page.setViewportSize({ width: 1100, height: 900 });
    // The one failed request the browser logs is the deliberate bad spec (invalid_argument → HTTP 400).
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
    expect(errors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
  }, 90_000);

  it("asks for the token once on a server that has one, then works with it", async () => {
    const locked = await startServer({ orchestrator: fleet.orchestrator, token: "dash-token-42" });
    const tab = await browser.newPage();
    try {
      await tab.goto(`${locked.url}/#/fleet`);
      await tab.waitForSelector("#token-form", { timeout: 10_000 });
      await tab.fill("#token", "dash-token-42");
      await tab.click("#token-form button");
      await tab.waitForSelector("tr[data-driver='driver-1']", { timeout: 10_000 });
      expect(await tab.evaluate(() => sessionStorage.getItem("kannon.token"))).toBe("dash-token-42");
      // Another page of the same tab needs no second prompt.
      await tab.goto(`${locked.url}/#/tests`);
      await tab.waitForSelector("#tests tr", { timeout: 10_000 });
    } finally {
      await tab.close();
      await locked.close();
    }
  });

  it("the HTML export renders offline: no request leaves the page, the charts and tables show", async () => {
    // The test the first case ran through the form.
    const test = fleet.orchestrator.listTests({ pageSize: 1, pageToken: "", state: TestState.COMPLETED }).items[0];
    expect(test).toBeDefined();
    const report = fleet.orchestrator.getReport(test!.id);
    const file = join(shots, "..", "report-export.html");
    await writeFile(file, reportHtml(report, report.intervals, { distribution: percentileDistribution(report.total?.latency?.histogram) }));
    const tab = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const requests: string[] = [];
    await tab.route("**/*", (route) => {
      const url = route.request().url();
      if (!url.startsWith("file://")) requests.push(url);
      return url.startsWith("file://") ? route.continue() : route.abort();
    });
    try {
      await tab.goto(pathToFileURL(file).href);
      // req/s, errors/s, p50, p90, p99 over time, and the percentile distribution.
      expect(await tab.locator("svg polyline").count()).toBeGreaterThanOrEqual(6);
      expect(await tab.locator("#report-drivers tbody tr").count()).toBe(report.drivers.length);
      expect(await tab.locator("h1").textContent()).toBe("Kannon report: from the dashboard");
      expect(await tab.locator("#spec").textContent()).toMatch(/targetUrl.*\/ping/);
      expect(await tab.locator("#thresholds").textContent()).toMatch(/error rate ≤ 1%\s*0%\s*passed/);
      expect(await tab.locator(".error-kinds").textContent()).toMatch(/HTTP 200/);
      const xTicks = await tab.locator("figure").first().locator(".x-tick").allTextContents();
      expect(xTicks[0]).toBe("0 s");
      for (const t of xTicks) expect(t).toMatch(/^\d+(\.\d+)? s$/);
      for (const t of await tab.locator(".y-tick").allTextContents()) expect(t).toMatch(/^\d{1,3}(,\d{3})*(\.\d+)?$/);
      expect(await tab.locator("figure").last().locator(".x-tick").allTextContents()).toEqual(["50 %", "90 %", "99 %", "99.9 %", "99.99 %"]);
      // The distribution is the histogram's: a point per percentile from 50 % to 99.99 %, rising.
      const dots = await tab.locator("figure").last().locator("circle title").allTextContents();
      expect(dots.map((d) => d.split(":")[0])).toEqual(["p50", "p75", "p90", "p95", "p97.5", "p99", "p99.5", "p99.75", "p99.9", "p99.95", "p99.975", "p99.99"]);
      const values = dots.map((d) => Number(d.split(": ")[1]!.replace(/,/g, "").replace(" ms", "")));
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]!);
      const box = await tab.locator("svg").first().boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      await tab.screenshot({ path: join(shots, "report-export.png"), fullPage: true });
      expect(requests).toEqual([]);
    } finally {
      await tab.close();
      await rm(file, { force: true });
    }
  });

  it("shows a test where every request failed as failing, with its error kind, in the list, live, in the report and its export; deletes it", async () => {
    const port = await closedPort();
    const test = fleet.orchestrator.createTest(
      spec({ name: "nothing listens", targetUrl: `http://127.0.0.1:${port}/`, reportIntervalMs: 200, workload: { case: "avalanche", value: { concurrency: 2, limit: { case: "requestsPerDriver", value: 50n } } } }),
    );
    await fleet.orchestrator.startTest(test.id);
    await until(() => fleet.orchestrator.getTest(test.id).state === TestState.COMPLETED, 20_000, "the refused test's end");
    // Before any data, the live view says it is waiting (a test created, not started).
    const idle = fleet.orchestrator.createTest(spec({ name: "not started", targetUrl: `${fleet.target!.url}/ping`, workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } }));
    await page.goto(`${fleet.server.url}/#/test/${idle.id}`);
    await page.waitForSelector("#test-state");
    expect(await page.locator("#charts-note").textContent()).toBe("waiting for the first interval…");
    await fleet.orchestrator.deleteTest(idle.id);

    await page.goto(`${fleet.server.url}/#/test/${test.id}`);
    await page.waitForSelector("#test-verdict [data-verdict]", { timeout: 10_000 });
    expect(await page.locator("#test-verdict").textContent()).toMatch(/FAILING.*error rate 100%.*connect_refused×100/);
    await page.goto(`${fleet.server.url}/#/report/${test.id}`);
    await page.waitForSelector("#report-drivers");
    expect(await page.locator("#test-verdict [data-verdict]").getAttribute("data-verdict")).toBe("failing");
    expect(await page.locator(".error-kinds .failing").first().textContent()).toMatch(/connect_refused\s*100\s*100%/);
    await page.screenshot({ path: join(shots, "report-failing.png"), fullPage: true });
    const html = reportHtml(fleet.orchestrator.getReport(test.id), fleet.orchestrator.getReport(test.id).intervals);
    expect(html).toMatch(/data-verdict="failing">FAILING<\/span> <span class="failing-why">error rate 100% · every request failed \(connect_refused×100\)/);

    await page.goto(`${fleet.server.url}/#/tests`);
    const row = page.locator(`tr[data-test='${test.id}']`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator("[data-verdict]").textContent()).toBe("FAILING");
    expect(await row.textContent()).toMatch(/connect_refused×100/);
    expect(await row.locator("td").nth(2).textContent()).toBe("100"); // requests
    expect(await row.locator("td").nth(3).textContent()).toBe("100 (100%)"); // errors
    expect(await row.locator("td").nth(4).textContent()).toMatch(/^\d+\.\d s$/); // duration
    await page.screenshot({ path: join(shots, "tests.png") });
    page.once("dialog", (d) => void d.accept());
    await row.locator("button[data-delete]").click();
    await row.waitFor({ state: "detached", timeout: 10_000 });
    expect(() => fleet.orchestrator.getTest(test.id)).toThrow(/does not exist/);
    expect(() => fleet.orchestrator.getReport(test.id)).toThrow(/does not exist/);
  }, 60_000);

  it("a scenario test shows its per-step table live and in the report, and a latency chart per step whose steps are chosen; runs again in one click", async () => {
    // examples/api-smoke.yaml (ping → login → item → search), 4 iterations a second per driver for ~3 s.
    const smoke = readSpecFile(join(import.meta.dirname, "..", "examples", "api-smoke.yaml"), `${fleet.target!.url}/`).spec;
    smoke.name = "api smoke from the dashboard";
    smoke.reportIntervalMs = 250;
    smoke.workload = { case: "tsunami", value: { ...(smoke.workload.value as object), delayMs: 250, limit: { case: "requestsPerDriver", value: 12n } } } as typeof smoke.workload;
    const test = fleet.orchestrator.createTest(smoke);
    await page.goto(`${fleet.server.url}/#/test/${test.id}`);
    await page.waitForSelector("#step-chooser");
    await fleet.orchestrator.startTest(test.id);
    const stepNames = ["smoke/ping", "smoke/login", "smoke/item", "smoke/search"];
    // The per-step table is live: its ping row's requests grow while the test runs.
    const pingRequests = async () => Number(await page.locator("#live-steps #report-steps tbody tr").first().locator("td").nth(1).textContent());
    await expect.poll(pingRequests, { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
    const early = await pingRequests();
    await expect.poll(pingRequests, { timeout: 10_000, interval: 100 }).toBeGreaterThan(early);
    expect(await page.locator("#live-steps #report-steps tbody tr td:first-child").allTextContents()).toEqual(stepNames);
    // Every step is plotted at first (4 ≤ 5), on elapsed seconds.
    await page.waitForFunction(() => Number(document.body.dataset.chartPoints ?? 0) >= 3, undefined, { timeout: 15_000 });
    expect(await page.locator("#chart-steps").getAttribute("data-steps")).toBe(stepNames.join(" | "));
    for (const t of (await page.locator("#chart-steps").getAttribute("data-x-ticks"))!.split(" | ")) expect(t).toMatch(/^\d+(\.\d+)? s$/);
    expect(await page.locator("#chart-steps .u-legend .u-series").count()).toBe(1 + stepNames.length);
    await page.screenshot({ path: join(shots, "live-test-steps.png"), fullPage: true });

    await until(() => fleet.orchestrator.getTest(test.id).state === TestState.COMPLETED, 20_000, "the smoke test's end");
    await page.goto(`${fleet.server.url}/#/report/${test.id}`);
    await page.waitForSelector("#report-steps");
    const report = fleet.orchestrator.getReport(test.id);
    const rows = page.locator("#report-steps tbody tr");
    expect(await rows.locator("td:first-child").allTextContents()).toEqual(stepNames);
    // The table's requests and checks are the report's, step by step.
    for (const [i, st] of report.total!.steps.entries()) {
      const cells = await rows.nth(i).locator("td").allTextContents();
      expect(cells[1]).toBe(String(st.stats!.requests));
      expect(cells[3]).toBe(String(st.checks.reduce((n, c) => n + c.passed, 0n)));
    }
    expect(Number(await rows.first().locator("td").nth(1).textContent())).toBe(24); // 2 drivers × 12 iterations
    // Choosing: unticking login and item leaves ping and search; p50 instead of p99.
    await page.uncheck("#step-chooser [data-step='1']");
    await page.uncheck("#step-chooser [data-step='2']");
    await page.selectOption("#step-percentile", "p50");
    expect(await page.locator("#chart-steps").getAttribute("data-steps")).toBe("smoke/ping | smoke/search");
    expect(await page.locator("#chart-steps .u-title").textContent()).toBe("latency p50 per step (ms)");
    expect(await page.locator("#chart-steps .u-legend .u-series").count()).toBe(3);
    await page.screenshot({ path: join(shots, "report-steps.png"), fullPage: true });

    // Run again: one click makes a new test of the same spec, started, and opens its live view.
    await page.click("#rerun");
    await page.waitForURL((url) => /#\/test\/[0-9a-f-]{36}$/.test(url.hash) && !url.hash.endsWith(test.id), { timeout: 10_000 });
    const againId = new URL(page.url()).hash.split("/")[2]!;
    const again = fleet.orchestrator.getTest(againId);
    expect(again.spec).toEqual(fleet.orchestrator.getTest(test.id).spec);
    expect(again.state).not.toBe(TestState.CREATED);
    await page.waitForSelector("#live-steps #report-steps", { timeout: 10_000 });
    await until(() => fleet.orchestrator.getTest(againId).state === TestState.COMPLETED, 20_000, "the run again's end");
    expect(fleet.orchestrator.getReport(againId).total!.steps.map((s) => s.stats!.requests)).toEqual([24n, 24n, 24n, 24n]);
  }, 60_000);
  it("the new-test page takes a YAML spec: an example as the start, each problem under its line, then fixed and started", async () => {
    const example = await readFile(join(import.meta.dirname, "..", "examples", "api-smoke.yaml"), "utf8");
    const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;
    await page.goto(`${fleet.server.url}/#/new`);
    await page.click("[data-example='api-smoke.yaml']");
    expect(await page.inputValue("#spec-text")).toBe(example);
    const submit = (start: "0" | "1") => page.click(`#spec-form button[value='${start}']`);
    // A problem the mapping finds (a status that is none), under the check's line, before any request.
    const badCheck = example.replace("{ name: ok, status: 200 }", "{ name: ok, status: teapot }");
    await page.fill("#spec-text", badCheck);
    await submit("1");
    const shown = page.locator("#spec-problems .problem[data-line]");
    await shown.first().waitFor({ timeout: 10_000 });
    expect(await shown.count()).toBe(1);
    expect(await shown.getAttribute("data-line")).toBe(String(lineOf(badCheck, "status: teapot")));
    expect(await shown.textContent()).toMatch(/spec\.scenarios\[0\]\.steps\[0\]\.checks\[0\].*must be a status/);
    // A problem the server finds (invalid_argument), under the line of the field it names.
    const badDelay = example.replace("delayMs: 200", "delayMs: 0");
    await page.fill("#spec-text", badDelay);
    await submit("1");
    await expect.poll(() => shown.first().getAttribute("data-field"), { timeout: 10_000 }).toBe("spec.tsunami.delay_ms");
    expect(await shown.first().getAttribute("data-line")).toBe(String(lineOf(badDelay, "delayMs: 0")));
    expect(await page.locator(".spec-line.bad").textContent()).toMatch(/delayMs: 0/);
    await page.screenshot({ path: join(shots, "new-test-spec-error.png"), fullPage: true });
    // Fixed: created, started, and its live view shows the per-step table.
    await page.fill("#spec-text", example);
    await submit("1");
    await page.waitForURL(/#\/test\//, { timeout: 10_000 });
    const id = new URL(page.url()).hash.split("/")[2]!;
    await until(() => fleet.orchestrator.getTest(id).state === TestState.COMPLETED, 20_000, "the pasted spec's end");
    const report = fleet.orchestrator.getReport(id);
    expect(report.total!.steps.map((st) => `${st.step} ${st.stats!.requests}`)).toEqual(["ping 10", "login 10", "item 10", "search 10"]); // 2 drivers × 5 iterations
  }, 60_000);
});
