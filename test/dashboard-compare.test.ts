/**
 * The dashboard's compare page in real Chromium (playwright-core, the browser of
 * test/chromium-global-setup.ts) against an embedded fleet: two runs of the same three-step spec,
 * the candidate's `search` step answered 250 ms later by the built-in target (`?delay=250`); the
 * page, opened from the base's report, flags that step and no other, and a bad rule is named.
 * The screenshot goes to test-results/screenshots/compare.png (ignored by git).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowserPage } from "./browser-page.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { readSpecFile } from "../cli/spec-file.js";
import { compareSpec } from "./compare-spec.js";
import { grpcClient, runToEnd } from "./helpers.js";

const shots = join(import.meta.dirname, "..", "test-results", "screenshots");

describe("dashboard compare page (real Chromium)", () => {
  let fleet: Embedded;
  let browser: Browser;
  let page: Page;
  let dir: string;
  const ids: string[] = [];
  let errors: string[] = [];
  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), "kannon-compare-page-"));
    fleet = await startEmbedded({ drivers: 1 });
    const client = grpcClient(fleet.server.url);
    for (const [name, delay] of [["base", 0], ["candidate", 250]] as const) {
      const file = join(dir, `${name}.yaml`);
      await writeFile(file, compareSpec(name, delay));
      ids.push((await runToEnd(client, readSpecFile(file, `${fleet.target!.url}/`).spec)).id);
    }
    ({ browser, page, errors } = await openBrowserPage({ width: 1300, height: 900 }));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await fleet?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("from a report to the compare page: the slowed step flagged, no other; a bad rule named", { timeout: 60_000 }, async () => {
    const [base, candidate] = ids as [string, string];
    await page.goto(`${fleet.server.url}/#/report/${base}`);
    await page.click("#compare-with", { timeout: 15_000 });
    await page.waitForSelector("#compare-form");
    expect(await page.locator("header a[aria-current='page']").textContent()).toBe("Compare");
    expect(await page.inputValue("select[name='base']")).toBe(base);
    await page.selectOption("select[name='candidate']", candidate);
    await page.fill("input[name='rules']", "p50=100ms, error_rate=0.5pp");
    await page.click("#compare-form button");
    await page.waitForSelector("#compare [data-regressed]", { timeout: 10_000 });
    expect(await page.locator("#verdict [data-verdict]").getAttribute("data-verdict")).toBe("failing");
    expect(await page.locator("tr[data-row='step flow/search'][data-side='change'] [data-regressed]").getAttribute("data-regressed")).toBe("p50");
    for (const step of ["login", "other"]) expect(await page.locator(`tr[data-row='step flow/${step}'] [data-regressed]`).count()).toBe(0);
    expect(await page.locator("#regressions li").allTextContents()).toContainEqual(expect.stringMatching(/^step flow\/search p50: [\d.]+ ms → [\d.]+ ms, \+[\d.]+ ms worse \(limit p50=100ms\)$/));
    expect(page.url()).toContain(`#/compare/${base}/${candidate}`);
    await page.screenshot({ path: join(shots, "compare.png"), fullPage: true });

    await page.fill("input[name='rules']", "p98=10%");
    await page.click("#compare-form button");
    await expect.poll(() => page.locator("#compare-problem").textContent()).toContain('unknown statistic "p98"');
    expect(errors).toEqual([]);
  });
});
