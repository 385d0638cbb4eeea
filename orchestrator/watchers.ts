import type { Report } from "../gen/kannon/v1/report_pb.js";
import type { Test } from "../gen/kannon/v1/test_pb.js";
import { isEnded } from "../metrics/outcome.js";
import type { LiveTest, TestUpdate } from "./live-test.js";

/** Where a watcher of a test gets its updates (the routes turn them into a WatchTest stream). */
export interface TestSink {
  update(u: TestUpdate): void;
  /** No more updates: the test ended (or was deleted), or the orchestrator closes. */
  end(): void;
}


interface Waiting {
  sink: TestSink;
  /** Stops the updates: first leaves the waiting set, once the test started it leaves the run. */
  stop: () => void;
}

/**
 * The watchers of tests: attached to a running test's merge, or waiting for a test that has not
 * started yet (they get its state now, and its intervals once it starts, or its end).
 */
export class TestWatchers {
  /** Watchers of tests that have not started yet. */
  private readonly early = new Map<string, Set<Waiting>>();

  /**
   * Sends `sink` a test's updates: a running test's from its current state on, an ended test's
   * final state and report, or a test that has not started yet its state now and the rest once
   * it starts. Returns what stops them.
   */
  watch(test: Test, live: LiveTest | undefined, report: () => Report | undefined, sink: TestSink): () => void {
    if (live) return attach(live, sink);
    if (isEnded(test.state)) {
      const r = report();
      sink.update({ test, drivers: [], ...(r ? { report: r, cumulative: r.total! } : {}) });
      sink.end();
      return () => {};
    }
    sink.update({ test, drivers: [] });
    const set = this.early.get(test.id) ?? new Set();
    const waiting: Waiting = { sink, stop: () => set.delete(waiting) };
    set.add(waiting);
    this.early.set(test.id, set);
    return () => waiting.stop();
  }

  /** The test started: its waiting watchers follow it live. */
  started(live: LiveTest): void {
    for (const w of this.early.get(live.test.id) ?? []) w.stop = attach(live, w.sink);
    this.early.delete(live.test.id);
  }

  /** The test ended (or was deleted) before it started: its waiting watchers get its state and end. */
  ended(test: Test): void {
    for (const { sink } of this.early.get(test.id) ?? []) {
      sink.update({ test, drivers: [] });
      sink.end();
    }
    this.early.delete(test.id);
  }

  /** Ends every waiting watcher (the orchestrator closes). */
  closeAll(): void {
    for (const set of this.early.values()) for (const { sink } of set) sink.end();
    this.early.clear();
  }
}

/** Follows a running test: its current state first, then every update, until its report. */
function attach(live: LiveTest, sink: TestSink): () => void {
  return live.watch((u) => {
    sink.update(u);
    if (u.report) sink.end();
  });
}
