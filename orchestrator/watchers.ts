import { create, toBinary } from "@bufbuild/protobuf";
import { WatchTestResponseSchema, type WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Test } from "../gen/kannon/v1/test_pb.js";
import { Channel } from "./channel.js";
import type { LiveTest } from "./live-test.js";

/**
 * The WatchTest streams: attached to a running test's merge, or waiting for a test that has not
 * started yet (they get its state now, and its intervals once it starts, or its end).
 */
export class TestWatchers {
  /** Watchers of tests that have not started yet. */
  private readonly early = new Map<string, Set<Channel<WatchTestResponse>>>();

  /** A new stream, bounded in messages and in encoded bytes. */
  open(): Channel<WatchTestResponse> {
    return new Channel<WatchTestResponse>({ sizeOf: (r) => toBinary(WatchTestResponseSchema, r as WatchTestResponse).byteLength });
  }

  /** Streams a running test: its current state first, then every update, until its report. */
  attach(live: LiveTest, ch: Channel<WatchTestResponse>): void {
    ch.onClose = live.watch((r) => {
      ch.push(r);
      if (r.report) ch.end();
    });
  }

  /** Sends a test's state and keeps the stream until the test starts or ends. */
  waitForStart(test: Test, ch: Channel<WatchTestResponse>): void {
    ch.push(create(WatchTestResponseSchema, { test }));
    const set = this.early.get(test.id) ?? new Set();
    set.add(ch);
    this.early.set(test.id, set);
    ch.onClose = () => set.delete(ch);
  }

  /** The test started: its waiting streams follow it live. */
  started(live: LiveTest): void {
    for (const ch of this.early.get(live.test.id) ?? []) this.attach(live, ch);
    this.early.delete(live.test.id);
  }

  /** The test ended (or was deleted) before it started: its waiting streams get its state and end. */
  ended(test: Test): void {
    for (const ch of this.early.get(test.id) ?? []) {
      ch.push(create(WatchTestResponseSchema, { test }));
      ch.end();
    }
    this.early.delete(test.id);
  }

  /** Ends every waiting stream (the orchestrator closes). */
  closeAll(): void {
    for (const set of this.early.values()) for (const ch of set) ch.end();
    this.early.clear();
  }
}
