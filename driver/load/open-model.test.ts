/**
 * The open model (arrival rate) on the HTTP/1.1 fast path, against targets on 127.0.0.1 whose own
 * counts are the reference: the schedule fired is exactly workload/schedule.ts's, connections are
 * open before the start, a target that slows makes the pool grow to max_in_flight and then drop,
 * and a driver on 1 and 2 threads sends exactly the schedule with nothing dropped in interval 0.
 */
import { create } from "@bufbuild/protobuf";
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { ArrivalRateSchema, TestSpecSchema, type TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { decodeHistogram } from "../../metrics/histogram.js";
import { dueOffsetsMs, ratePhases } from "../../workload/schedule.js";
import { nowMs, sleepUntil } from "../clock.js";
import { connectionsAhead } from "../transport/h1-open-pool.js";
import { FastTransport } from "../transport/fast.js";
import { createTransport } from "../transport/transport.js";
import { finalOf, harness, installCleanup, metricsOf, sendConfig, sendStart, sumRequests, until } from "../../test/driver-harness.js";
import { arrivalRate } from "./arrival-rate.js";
import { openModelPlan } from "./open-model.js";
import { IntervalRecorder } from "./recorder.js";

installCleanup();
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A target counting requests and connections (when each opened, how many at most at once); answers after `delayMs`. */
async function countingTarget() {
  const t = { url: "", requests: 0, opened: [] as number[], open: 0, mostOpen: 0, delayMs: 0 };
  const server = createServer((_req, res) => {
    t.requests++;
    const answer = () => res.end("ok");
    if (t.delayMs > 0) setTimeout(answer, t.delayMs);
    else answer();
  });
  server.on("connection", (socket) => {
    t.opened.push(nowMs());
    t.mostOpen = Math.max(t.mostOpen, ++t.open);
    socket.on("close", () => t.open--);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return t;
}

/**
 * Runs an arrival-rate schedule through the fast transport as a driver's load part does (prepare
 * with the part's plan, start 300 ms later), recording every scheduled time handed to fire().
 * `atStart` runs at the start instant.
 */
async function runArrivalRate(url: string, rate: { ratePerS: number; durationMs: number; maxInFlight?: number }, atStart: () => void = () => undefined) {
  const workload = create(ArrivalRateSchema, rate);
  const spec = create(TestSpecSchema, { targetUrl: url, workload: { case: "arrivalRate", value: workload } });
  const recorder = new IntervalRecorder(true);
  const transport = createTransport({ url: new URL(url), method: "GET", headers: {}, body: undefined, timeoutMs: 5000 }, recorder);
  expect(transport).toBeInstanceOf(FastTransport);
  const share = { index: 0, count: 1, sinceMs: 0, version: 0 };
  const thread = { index: 0, count: 1 };
  const plan = openModelPlan(spec, share, thread)!;
  transport.prepare(0, plan);
  const fired: number[] = [];
  const fire = transport.fire.bind(transport);
  transport.fire = (scheduledMs) => {
    fired.push(scheduledMs);
    fire(scheduledMs);
  };
  const startMs = nowMs() + 300;
  await sleepUntil(startMs);
  atStart();
  const signal = new AbortController().signal;
  await arrivalRate(workload)({ transport, recorder, startMs, stopAtMs: startMs + 10_000, signal, share, halt: () => undefined, thread });
  expect(await transport.drain(nowMs() + 5000)).toBe(true);
  const connections = (transport as FastTransport).openConnections;
  await transport.close(true);
  return { startMs, plan, fired, connections, snapshot: recorder.take(), schedule: [...dueOffsetsMs(ratePhases(workload), 0, 1)].map((o) => startMs + o) };
}

/** The p50 (µs) of an encoded latency histogram. */
const p50Us = (bytes: Uint8Array) => decodeHistogram(bytes).getValueAtPercentile(50);

describe("the open model on the fast path", () => {
  it("fires exactly workload/schedule.ts's instants over connections opened before the start, and the target sees every request", async () => {
    const target = await countingTarget();
    const r = await runArrivalRate(target.url, { ratePerS: 2000, durationMs: 1000 });
    expect(r.schedule).toHaveLength(2000);
    // Bit-equal: the very numbers the schedule module computes, none shifted, dropped or added.
    expect(r.fired).toEqual(r.schedule);
    expect(r.snapshot.dropped).toBe(0);
    expect(r.snapshot.requests).toBe(2000);
    expect(target.requests).toBe(2000);
    // 2,000/s × 2 ms = 4 connections, all connected before the start instant.
    const ahead = connectionsAhead(r.plan, 1);
    expect(ahead).toBe(4);
    expect(target.opened.filter((at) => at < r.startMs)).toHaveLength(ahead);
  });

  it("a target that slows mid-run makes the pool open more connections up to max_in_flight, then drop", async () => {
    const target = await countingTarget();
    // 1,000/s for 1.5 s; from 0.5 s on, every answer takes 100 ms: 100 in flight wanted, 30 allowed.
    let slowAt: NodeJS.Timeout | undefined;
    const r = await runArrivalRate(target.url, { ratePerS: 1000, durationMs: 1500, maxInFlight: 30 }, () => {
      slowAt = setTimeout(() => (target.delayMs = 100), 500);
    });
    clearTimeout(slowAt);
    expect(r.fired.length + r.snapshot.dropped).toBe(1500);
    expect(r.snapshot.dropped).toBeGreaterThan(100);
    expect(r.snapshot.requests).toBe(r.fired.length);
    expect(target.requests).toBe(r.fired.length);
    expect(target.opened.filter((at) => at < r.startMs)).toHaveLength(4);
    // It grew to the cap (one request per connection) and never past it.
    const seen = `pool ${r.connections}, opened ${target.opened.length}, at most ${target.mostOpen} open, dropped ${r.snapshot.dropped}`;
    expect(r.connections, seen).toBe(30);
    expect(target.opened, seen).toHaveLength(30);
    expect(target.mostOpen, seen).toBe(30);
  });

  it("a target that refuses connections: every scheduled request is recorded as a connect error, none lost, none left waiting", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const r = await runArrivalRate(`http://127.0.0.1:${port}/`, { ratePerS: 500, durationMs: 400, maxInFlight: 50 });
    expect(r.fired.length + r.snapshot.dropped).toBe(200);
    expect(r.snapshot.requests).toBe(r.fired.length);
    expect([...r.snapshot.errorCounts.keys()]).toEqual(["connect_refused"]);
    expect(r.snapshot.errorCounts.get("connect_refused")).toBe(r.fired.length);
  });

  for (const threads of [1, 2])
    it(`a driver on ${threads} thread(s) at 1,000/s: nothing dropped in any interval (the first included), totals equal to the target's, p50s printed`, async () => {
      const h = await harness();
      const target = h.target;
      const d = await h.driver({ id: `open-${threads}`, threads });
      const workload: TestSpec["workload"] = { case: "arrivalRate", value: create(ArrivalRateSchema, { ratePerS: 1000, durationMs: 2000 }) };
      const spec = create(TestSpecSchema, { name: "open", targetUrl: `${target.url}/ping`, method: "GET", reportIntervalMs: 250, requestTimeoutMs: 2000, workload });
      await sendConfig(h, "t-open", spec, [d.id]);
      const startAtMs = nowMs() + 500;
      await sendStart(h, "t-open", startAtMs);
      // Every interval: on a busy machine one can arrive after the final (the orchestrator orders them by seq).
      const complete = () => {
        const final = finalOf(h, "t-open", d.id);
        return final !== undefined && metricsOf(h, "t-open", d.id).length === Number(final.seq) + 1;
      };
      await until(complete, 15_000, "the final metrics and every interval before it");
      // By seq: the interval grid itself is threads.test.ts's and driver.test.ts's subject.
      const ms = metricsOf(h, "t-open", d.id).sort((a, b) => Number(a.seq - b.seq));
      expect(ms.map((m) => Number(m.seq))).toEqual(ms.map((_, i) => i));
      expect(ms.every((m) => m.error === "")).toBe(true);
      const seen = `requests ${ms.map((m) => m.requests).join(",")}; dropped ${ms.map((m) => m.dropped).join(",")}; late ${ms.map((m) => m.late).join(",")}`;
      expect(ms.map((m) => Number(m.dropped)), seen).toEqual(ms.map(() => 0));
      expect(sumRequests(ms), seen).toBe(2000);
      expect(target.counts().requests).toBe(2000);
      // What the generator adds to the target's time in each interval (latency p50 − service time
      // p50: from the schedule to the send, connects included) is printed, not asserted: on this
      // 2-core machine under load (average 15-20) the first 0.25-0.75 s of a run were slow in about
      // a third of the runs, on 1 and 2 threads, the in-process target's service time too, and fine
      // in the others; the first interval's drops (none, above) are the bound held here.
      const full = ms.filter((m) => Number(m.requests) > 50);
      const p50s = full.map((m) => p50Us(m.latencyHistogram));
      const service = full.map((m) => p50Us(m.serviceTimeHistogram));
      console.log(`${threads} thread(s): interval p50s ${p50s.map((us) => (us / 1000).toFixed(2)).join(", ")} ms; service time ${service.map((us) => (us / 1000).toFixed(2)).join(", ")} ms`);
      expect(full.length).toBeGreaterThan(4);
    });
});
