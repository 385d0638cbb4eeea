import type { Driver } from "../gen/kannon/v1/driver_pb.js";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { DomainError } from "./errors.js";
import type { Fleet } from "./fleet.js";
import type { LiveTest } from "./live-test.js";
import { decodeToken, encodeToken, pageSize, type Page } from "./paging.js";
import { withoutHistograms } from "./series.js";
import type { Store } from "./store.js";
import { isEnded } from "../metrics/outcome.js";
import { TestWatchers, type TestSink } from "./watchers.js";

/**
 * The orchestrator's read side: tests, reports, intervals and the fleet, as stored or, for a
 * running test, as it is live. The {@link Orchestrator} adds the lifecycle on top.
 */
export class TestCatalog {
  /** Tests running (or resumed after a restart) until their end is stored. */
  protected readonly live = new Map<string, LiveTest>();
  protected readonly watchers = new TestWatchers();
  /** The states of stored tests that have ended, by id (see {@link testsByState}). */
  private endedStates = new Map<string, TestState>();

  constructor(
    protected readonly store: Store,
    readonly fleet: Fleet,
  ) {}

  /** A test by id. */
  getTest(id: string): Test {
    if (!id) throw new DomainError("invalid_argument", "test_id is required");
    const live = this.live.get(id);
    if (live) return live.test;
    const test = this.store.getTest(id);
    if (!test) throw new DomainError("not_found", `test "${id}" does not exist`);
    return test;
  }

  /** A page of tests, newest first, optionally in one state. */
  listTests(query: TestQuery = { pageSize: 0, pageToken: "", state: TestState.UNSPECIFIED }): Page<Test> {
    return listTests(this.store, query, (t) => this.live.get(t.id)?.test ?? t);
  }

  /** A page of the fleet, sorted by id. */
  listDrivers(query: { pageSize: number; pageToken: string } = { pageSize: 0, pageToken: "" }): Page<Driver> {
    return listDrivers(this.fleet, query);
  }

  /** A page of a test's merged intervals at full resolution. */
  listIntervals(id: string, query: { pageSize: number; pageToken: string }): Page<Stats> {
    this.getTest(id);
    return listIntervals(this.store, id, query);
  }

  /** The final report of an ended test. */
  getReport(id: string): Report {
    const test = this.getTest(id);
    const report = this.store.getReport(id);
    if (!report)
      throw new DomainError("failed_precondition", `test "${id}" is ${TestState[test.state]}; its report is ready when it ends`);
    return report;
  }

  /** The stored report's exact bytes (for byte-for-byte checks). */
  getReportBytes(id: string): Uint8Array | undefined {
    return this.store.getReportBytes(id);
  }

  /**
   * Sends `sink` a test's current state first, then every interval, then the final report; returns
   * what stops it.
   */
  watchTest(id: string, sink: TestSink): () => void {
    return this.watchers.watch(this.getTest(id), this.live.get(id), () => this.store.getReport(id), sink);
  }

  /** Running tests, for live gauges (Prometheus). */
  runningTests(): LiveTest[] {
    return [...this.live.values()].filter((l) => !l.sealed);
  }

  /**
   * How many stored tests are in each state (running ones as they are live), as every Prometheus
   * scrape asks. An ended test's state never changes: it is decoded once and remembered while the
   * test is stored; only tests that have not ended are read at each count.
   */
  testsByState(): Map<TestState, number> {
    const counts = new Map<TestState, number>();
    const ended = new Map<string, TestState>();
    for (const id of this.store.testIds()) {
      const state = this.live.get(id)?.test.state ?? this.endedStates.get(id) ?? this.store.getTest(id)?.state;
      if (state === undefined) continue;
      if (isEnded(state)) ended.set(id, state);
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    this.endedStates = ended;
    return counts;
  }

  /** Bytes the store takes on disk. */
  storeSizeBytes(): number {
    return this.store.sizeBytes();
  }
}

/** What a listing of tests asks for. */
export interface TestQuery {
  pageSize: number;
  pageToken: string;
  /** Unspecified: every state. */
  state: TestState;
}

/**
 * One page of tests, newest first; `current` maps a stored test to its live view (a running
 * test's state is newer in memory than in the store).
 */
function listTests(store: Store, query: TestQuery, current: (t: Test) => Test): Page<Test> {
  if (TestState[query.state] === undefined) throw new DomainError("invalid_argument", `state ${query.state} is not a TestState`);
  const after = decodeToken("tests", query.pageToken, (k) => store.isIndexKey(k));
  const size = pageSize(query.pageSize, "tests");
  const items: Test[] = [];
  let lastKey = "";
  for (const { indexKey, test } of store.testsNewestFirst(after)) {
    const t = current(test);
    if (query.state !== TestState.UNSPECIFIED && t.state !== query.state) continue;
    if (items.length === size) return { items, nextPageToken: encodeToken("tests", lastKey) };
    items.push(t);
    lastKey = indexKey;
  }
  return { items, nextPageToken: "" };
}

/** One page of the fleet, sorted by driver id. */
function listDrivers(fleet: Fleet, query: { pageSize: number; pageToken: string }): Page<Driver> {
  const after = decodeToken("drivers", query.pageToken);
  const { drivers, more } = fleet.page(after, pageSize(query.pageSize, "drivers"));
  return { items: drivers, nextPageToken: more && drivers.length > 0 ? encodeToken("drivers", drivers[drivers.length - 1]!.id) : "" };
}

/** One page of a test's merged intervals, in order, without histograms. */
function listIntervals(store: Store, testId: string, query: { pageSize: number; pageToken: string }): Page<Stats> {
  const after = decodeToken("intervals", query.pageToken, (p) => /^[^/]+\/\d+$/.test(p) && p.startsWith(`${testId}/`));
  const from = after === undefined ? 0 : Number(after.slice(after.lastIndexOf("/") + 1)) + 1;
  const size = pageSize(query.pageSize, "intervals");
  const items: Stats[] = [];
  for (const s of store.intervalsOf(testId, from)) {
    if (items.length === size) return { items, nextPageToken: encodeToken("intervals", `${testId}/${items[items.length - 1]!.interval}`) };
    items.push(withoutHistograms(s));
  }
  return { items, nextPageToken: "" };
}

/**
 * Deletes the oldest tests beyond `keep` (never one that runs); `removed` is told of each, so
 * that its watchers are ended. Resolves once the deletions are committed.
 */
export async function retain(store: Store, keep: number, running: (id: string) => boolean, removed: (t: Test) => void): Promise<number> {
  let excess = store.testCount - keep;
  if (excess <= 0) return 0;
  const victims: Test[] = [];
  for (const t of store.testsOldestFirst()) {
    if (excess <= 0) break;
    if (running(t.id) || t.state === TestState.STARTING || t.state === TestState.RUNNING) continue;
    victims.push(t);
    excess--;
  }
  let n = 0;
  for (const victim of victims) {
    // Checked again: it may have been started (or deleted) while earlier ones were being deleted.
    const t = store.getTest(victim.id);
    if (!t || running(t.id) || t.state === TestState.STARTING || t.state === TestState.RUNNING) continue;
    removed(t);
    await store.deleteTest(t);
    n++;
  }
  return n;
}
