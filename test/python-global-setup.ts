/**
 * vitest globalSetup: the project's Python venv (scripts/python-env.ts: a base venv of
 * python/requirements.txt in `${KANNON_CACHE:-~/.cache/kannon}/python-base`, and a venv per content
 * of python/ with the package pip-installed, so checkouts sharing the cache never replace each
 * other's installed files), provided
 * to test files as `inject("python")` = the venv's interpreter and `inject("kannonDriver")` = the
 * installed `kannon-driver` command.
 */
import type { TestProject } from "vitest/node";
import { ensurePythonEnv } from "../scripts/python-env.js";

declare module "vitest" {
  export interface ProvidedContext {
    python: string;
    kannonDriver: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const { python, driver } = await ensurePythonEnv((m) => process.stderr.write(`${m}\n`));
  project.provide("python", python);
  project.provide("kannonDriver", driver);
}
