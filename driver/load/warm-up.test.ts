/**
 * The load thread's warm-up must end within its budget whatever the test's request shape: the
 * part's start waits for it. With pipelining its throwaway server answered one request per read,
 * and a warm-up with a 200 ms budget took ~2.5 s.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OnExhausted } from "../../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { createTarget } from "../../target/target.js";
import { aimedAt, warmUp } from "./warm-up.js";

const avalanche = (pipelining: number, method = "GET"): TestSpec =>
  create(TestSpecSchema, {
    targetUrl: "http://127.0.0.1:9/never-used",
    method,
    workload: { case: "avalanche", value: { concurrency: 40, pipelining, limit: { case: "requestsPerDriver", value: 1000n } } },
  });

describe("warm-up", () => {
  for (const [name, spec] of [
    ["pipelining 10", avalanche(10)],
    ["pipelining 10, POST with a body", create(TestSpecSchema, { ...avalanche(10, "POST"), body: new TextEncoder().encode("payload") })],
    ["HEAD", avalanche(1, "HEAD")],
    ["tsunami", create(TestSpecSchema, { targetUrl: "http://127.0.0.1:9/", workload: { case: "tsunami", value: { delayMs: 1, limit: { case: "durationMs", value: 1000 } } } })],
  ] as const) {
    for (const kind of ["fast", "undici"] as const) {
      it(`${name} over ${kind} ends within its 200 ms budget (plus slack for a busy machine)`, async () => {
        const started = performance.now();
        await warmUp(spec, kind, 200);
        expect(performance.now() - started).toBeLessThan(900);
      });
    }
  }

  it("a scenario test warms up on its own steps aimed at the throwaway server: nothing reaches the target", async () => {
    const target = await createTarget({ port: 0, host: "127.0.0.1" });
    try {
      const spec = create(TestSpecSchema, {
        targetUrl: `${target.url}/`,
        dataFiles: [{ name: "u", onExhausted: OnExhausted.STOP }],
        scenarios: [
          {
            name: "s",
            weight: 1,
            dataFile: "u",
            steps: [
              { name: "abs", method: "POST", url: `${target.url}/login`, body: '{"user":"{{row.user}}"}', thinkTime: { kind: { case: "constantMs", value: 1000 } } },
              { name: "slot", url: "{{row.url}}" },
              { name: "path", url: "/items/{{row.user}}?q=1" },
              { name: "query", url: `${target.url}?q=2` },
            ],
          },
        ],
        workload: { case: "avalanche", value: { concurrency: 4, limit: { case: "requestsPerDriver", value: 1000n } } },
      });
      const there = new URL("http://127.0.0.1:1/warm-up");
      const aimed = aimedAt(spec, there);
      expect(aimed.targetUrl).toBe(there.href);
      expect(aimed.scenarios[0]!.steps.map((s) => [s.url, s.thinkTime])).toEqual([
        ["/login", undefined],
        ["/warm-up", undefined],
        ["/items/{{row.user}}?q=1", undefined],
        ["/?q=2", undefined],
      ]);
      expect(aimed.dataFiles[0]!.onExhausted).toBe(OnExhausted.WRAP);
      // The spec itself is unchanged.
      expect(spec.scenarios[0]!.steps[0]!.url).toBe(`${target.url}/login`);
      const started = performance.now();
      await warmUp(spec, "fast", 200, new Map([["u", { columns: ["user", "url"], rows: [["ann", `${target.url}/search?q=x`]] }]]));
      expect(performance.now() - started).toBeLessThan(900);
      expect(target.counts().requests).toBe(0);
    } finally {
      await target.close();
    }
  });
});
