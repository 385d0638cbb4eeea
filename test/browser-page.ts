/**
 * The browser tests' page: headless Chromium (the browser of test/chromium-global-setup.ts, driven
 * by playwright-core) with one page of `viewport`, whose page errors and console errors are
 * collected in `errors` (a test checks it is empty).
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { inject } from "vitest";

/** A launched browser, its page, and the errors the page reported. */
export interface BrowserPage {
  browser: Browser;
  page: Page;
  errors: string[];
}

/** Launches Chromium and opens a page of `viewport`, collecting its errors. */
export async function openBrowserPage(viewport: { width: number; height: number }): Promise<BrowserPage> {
  const browser = await chromium.launch({
    executablePath: inject("chromium"),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  return { browser, page, errors };
}
