import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AvalancheSchema } from "../../gen/kannon/v1/test_pb.js";
import { avalanche } from "./avalanche.js";
import type { RunContext } from "./executor.js";

describe("avalanche", () => {
  afterEach(() => vi.useRealTimers());

  it("a count-only run leaves no timer behind once its requests are done", async () => {
    vi.useFakeTimers();
    let sent = 0;
    const transport = {
      async runClosed(_concurrency: number, more: (now: number) => boolean) {
        while (more(Date.now())) sent++;
      },
    };
    const ctx = {
      transport,
      startMs: Date.now(),
      stopAtMs: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
    } as unknown as RunContext;
    const before = vi.getTimerCount();
    await avalanche(create(AvalancheSchema, { concurrency: 2, limit: { case: "requestsPerDriver", value: 7n } }))(ctx);
    expect(sent).toBe(7);
    // The race's wait for a stop instant that never comes must end with the run (it re-armed an
    // hourly timer forever, one per test).
    expect(vi.getTimerCount()).toBe(before);
  });
});
