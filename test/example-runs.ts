/**
 * Runs a spec file of examples/ as a user does (`kannon test -f FILE --url TARGET --api API`) and
 * compares the report with what the target counted: every request, per route, per status, and the
 * tokens that later steps carried.
 */
import { expect } from "vitest";
import { readSpecFile } from "../cli/spec-file.js";
import type { Report, StepStats } from "../gen/kannon/v1/report_pb.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { createFlowApi } from "../target/flow-api.js";
import { flowCounts, resetTarget, type FlowFleet } from "./scenario-cases.js";
import { runKannon } from "./processes.js";

/** The target's byPath key of a step's URL template: its path, slots filled, flow routes by route. */
function routeOf(url: string): string {
  const path = url.replace(/\{\{[^}]*\}\}/g, "x").replace(/^https?:\/\/[^/]+/, "").split("?")[0]!;
  return createFlowApi().route(path) ?? path;
}

/** Runs examples/`file` on the fleet through the CLI and checks its report against the target's counts. */
export async function runExample(fleet: FlowFleet & { apiUrl: string }, file: string): Promise<void> {
  await runExampleReport(fleet, file);
}

/** {@link runExample}, returning the test's report. */
export async function runExampleReport(fleet: FlowFleet & { apiUrl: string }, file: string): Promise<Report> {
  const { spec } = readSpecFile(file, `${fleet.targetUrl}/`);
  await resetTarget(fleet.targetUrl);
  const run = await runKannon(["test", "-f", file, "--url", `${fleet.targetUrl}/`, "--api", fleet.apiUrl]);
  expect(run.code, run.out).toBe(0);
  const id = /test ([0-9a-f-]{36})/.exec(run.out)?.[1];
  expect(id, run.out).toBeDefined();
  const { report } = await fleet.client.getReport({ testId: id! });
  const counts = await flowCounts(fleet.targetUrl);
  expect(report!.state).toBe(TestState.COMPLETED);
  const total = report!.total!;

  // A row per step of the spec, in order, and together they are the total: every request the target received.
  const steps = spec.scenarios.flatMap((s) => s.steps.map((step) => ({ scenario: s.name, step })));
  expect(total.steps.map((s) => `${s.scenario}/${s.step}`)).toEqual(steps.map((s) => `${s.scenario}/${s.step.name}`));
  const rows = new Map(total.steps.map((s) => [s.stepIndex, s] as const));
  const sum = (of: (s: StepStats) => bigint, pick = (_i: number) => true) =>
    [...rows].reduce((n, [i, s]) => (pick(i) ? n + Number(of(s)) : n), 0);
  expect(sum((s) => s.stats!.requests)).toBe(Number(total.requests));
  expect(Number(total.requests)).toBe(counts.requests);
  expect(Object.keys(total.errorCounts)).toEqual([]);

  // Per route and per status, the steps add up to what the target counted.
  const routes = new Set(steps.map((s) => routeOf(s.step.url)));
  for (const route of routes)
    expect(sum((s) => s.stats!.requests, (i) => routeOf(steps[i]!.step.url) === route), route).toBe(counts.byPath[route] ?? 0);
  for (const [code, n] of Object.entries(counts.byStatus)) expect(sum((s) => s.stats!.statusCounts[Number(code)] ?? 0n), `status ${code}`).toBe(n);

  // The captured token reached the steps that send it: the target counted as many token-bearing requests.
  const bearer = (i: number) => Object.values(steps[i]!.step.headers).some((v) => v.includes("{{token}}"));
  expect(sum((s) => s.stats!.requests, bearer)).toBe(Object.values(counts.byToken).reduce((a, b) => a + b, 0));

  // Every check has an outcome for every response of its step.
  for (const s of total.steps) for (const c of s.checks) expect(Number(c.passed + c.failed), `${s.step}: ${c.name}`).toBe(Number(s.stats!.requests));
  const iterations = total.scenarios.reduce((n, s) => n + Number(s.iterations), 0);
  expect(iterations).toBeGreaterThan(0);
  return report!;
}
