/**
 * vitest globalSetup of the browser tests: the Chromium they drive (scripts/chromium.ts: Debian's
 * /usr/bin/chromium, installed once with apt-get when missing, or `$KANNON_CHROMIUM`), provided to
 * test files as `inject("chromium")`. When it cannot be provided the run fails with a message that
 * says how to install it: the browser tests never skip.
 */
import type { TestProject } from "vitest/node";
import { ensureChromium } from "../scripts/chromium.js";

declare module "vitest" {
  export interface ProvidedContext {
    chromium: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide("chromium", await ensureChromium((m) => process.stderr.write(`${m}\n`)));
}
