/**
 * `GET /metrics` on the orchestrator's port, read with a real Prometheus text-format parser while a
 * test runs on the embedded fleet and after it: drivers and tests by state, the running test's
 * requests, errors and last-interval rate and quantiles labelled by test id, ingest counters.
 */
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient, spec, until, type OrchestratorClient } from "./helpers.js";

describe("Prometheus metrics", () => {
  let fleet: Embedded;
  let client: OrchestratorClient;
  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 2 });
    client = grpcClient(fleet.server.url);
  });
  afterAll(() => fleet?.close());

  const scrape = async () => {
    const res = await fetch(`${fleet.server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const families = parsePrometheusTextFormat(await res.text());
    const get = (name: string): Family => {
      const f = families.find((x) => x.name === name);
      if (!f) throw new Error(`no ${name} in /metrics`);
      return f;
    };
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(get(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);
    return { families, get, value };
  };

  it("exposes the fleet, the tests and a running test's live numbers, and the ingest counters", async () => {
    const { test } = await client.createTest({
      spec: spec({ targetUrl: `${fleet.target!.url}/ping`, reportIntervalMs: 250, workload: { case: "tsunami", value: { delayMs: 5, limit: { case: "durationMs", value: 3000 } } } }),
    });
    const id = test!.id;
    await client.startTest({ testId: id });
    await until(async () => (await scrape()).get("kannon_test_latency_seconds").metrics.some((m) => m.labels?.test_id === id), 10_000, "live quantiles");
    const live = await scrape();
    expect(live.get("kannon_drivers").type).toBe("GAUGE");
    expect(live.value("kannon_drivers", { state: "busy" }) + live.value("kannon_drivers", { state: "ready" })).toBe(2);
    expect(live.value("kannon_tests", { state: "running" })).toBeGreaterThanOrEqual(1);
    expect(live.get("kannon_test_requests_total").type).toBe("COUNTER");
    expect(live.value("kannon_test_requests_total", { test_id: id })).toBeGreaterThan(0);
    expect(live.value("kannon_test_requests_per_second", { test_id: id })).toBeGreaterThan(0);
    const p99 = live.value("kannon_test_latency_seconds", { test_id: id, quantile: "0.99" });
    const p50 = live.value("kannon_test_latency_seconds", { test_id: id, quantile: "0.5" });
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeGreaterThanOrEqual(p50);
    expect(live.value("kannon_metrics_applied_total")).toBeGreaterThan(0);
    expect(live.value("kannon_heartbeats_total")).toBeGreaterThan(0);

    await until(async () => (await client.getTest({ testId: id })).test!.state === TestState.COMPLETED, 15_000, "COMPLETED");
    const after = await scrape();
    expect(after.value("kannon_tests", { state: "completed" })).toBeGreaterThanOrEqual(1);
    expect(after.get("kannon_test_requests_total").metrics.some((m) => m.labels?.test_id === id)).toBe(false);
    expect(after.value("kannon_metrics_duplicate_total")).toBe(0);
  });

  it("exports a scenario test's steps by name up to 50, the rest summed under _other, with per-step latency quantiles", async () => {
    // 55 steps of one scenario, each GET /ping: steps s50..s54 are past the bound.
    const steps = Array.from({ length: 55 }, (_, i) => ({ name: `s${i}`, url: "/ping" }));
    const { test } = await client.createTest({
      spec: spec({
        targetUrl: `${fleet.target!.url}/`,
        reportIntervalMs: 250,
        scenarios: [{ name: "many", weight: 1, steps }],
        workload: { case: "tsunami", value: { delayMs: 20, limit: { case: "durationMs", value: 3000 } } },
      }),
    });
    const id = test!.id;
    await client.startTest({ testId: id });
    const ofTest = (f: Family) => f.metrics.filter((m) => m.labels?.test_id === id);
    // Until iterations have reached the steps past the bound, and an interval has per-step quantiles.
    await until(
      async () => {
        const s = await scrape();
        return s.value("kannon_test_step_requests_total", { test_id: id, step: "_other" }) > 0 && ofTest(s.get("kannon_test_step_latency_seconds")).length > 0;
      },
      10_000,
      "requests past step 50 and per-step quantiles",
    );
    const live = await scrape();
    const requests = ofTest(live.get("kannon_test_step_requests_total"));
    expect(live.get("kannon_test_step_requests_total").type).toBe("COUNTER");
    expect(requests.map((m) => m.labels!.step)).toEqual([...steps.slice(0, 50).map((s) => s.name), "_other"]);
    expect(requests.every((m) => m.labels!.scenario === (m.labels!.step === "_other" ? "_other" : "many"))).toBe(true);
    expect(live.value("kannon_test_step_requests_total", { test_id: id, step: "s0" })).toBeGreaterThan(0);
    expect(live.value("kannon_test_step_requests_total", { test_id: id, step: "_other" })).toBeGreaterThan(0);
    expect(live.value("kannon_test_step_errors_total", { test_id: id, step: "s0" })).toBe(0);
    expect(live.value("kannon_test_steps_folded", { test_id: id })).toBe(5);
    // The steps' requests, _other's included, add up to the test's: prom-client runs every collect of a
    // scrape in one synchronous pass, so they read the same merge.
    expect(requests.reduce((n, m) => n + Number(m.value), 0)).toBe(live.value("kannon_test_requests_total", { test_id: id }));
    // Quantiles only for named steps (they do not add), rising with the quantile.
    const quantileSteps = new Set(ofTest(live.get("kannon_test_step_latency_seconds")).map((m) => m.labels!.step!));
    expect(quantileSteps.has("_other")).toBe(false);
    expect([...quantileSteps].every((st) => /^s([0-9]|[1-4][0-9])$/.test(st))).toBe(true);
    const first = [...quantileSteps][0]!;
    const q = (quantile: string) => live.value("kannon_test_step_latency_seconds", { test_id: id, step: first, quantile });
    expect(q("0.5")).toBeGreaterThan(0);
    expect(q("0.99")).toBeGreaterThanOrEqual(q("0.5"));
    // A single-request test running beside it would have no per-step series; this one's vanish at its end.
    await until(async () => (await client.getTest({ testId: id })).test!.state === TestState.COMPLETED, 15_000, "COMPLETED");
    expect(ofTest((await scrape()).get("kannon_test_step_requests_total"))).toEqual([]);
  }, 30_000);

  it("answers loopback Host names only when the server has no token", async () => {
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port: fleet.server.port, path: "/metrics", headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
    expect(await status(`127.0.0.1:${fleet.server.port}`)).toBe(200);
    expect(await status(`rebind.attacker.example:${fleet.server.port}`)).toBe(403);
  });
});
