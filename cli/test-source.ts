/**
 * Where `kannon report` and `kannon tests` read stored tests: a running orchestrator's API
 * (`--api`), or a data directory directly (`--data DIR`, e.g. the one `kannon run --data DIR`
 * kept), with no server at all.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Report, Stats } from "../gen/kannon/v1/report_pb.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { isEnded } from "../metrics/outcome.js";
import { withoutHistograms } from "../orchestrator/series.js";
import { Store } from "../orchestrator/store.js";
import { allIntervals } from "../web/exports.js";
import { UsageError } from "./args.js";
import { apiClient, explainUnreachable, type ApiValues } from "./api-client.js";


/** Stored tests, their reports and their intervals. */
export interface TestSource {
  /** How to name this source in a command (`--data DIR`, `--api URL`, or empty for the default API). */
  flag: string;
  /** Newest first, at most `limit`. */
  tests(limit: number): Promise<Test[]>;
  /** The final report of an ended test; an error says why there is none (it still runs, say). */
  report(id: string): Promise<Report>;
  /** Every interval at full resolution. */
  intervals(id: string): Promise<Stats[]>;
  close(): Promise<void>;
}

/** Flag of a data directory read directly. */
export const dataFlag = {
  data: { type: "string", value: "DIR", help: "read the tests stored in DIR (kannon run --data DIR, kannon orchestrator --data DIR) instead of asking --api" },
} as const;

/** The source the flags name: --data DIR when given, else the API. */
export function testSource(values: ApiValues & { data?: string | undefined }): TestSource {
  if (values.data !== undefined && values.api !== undefined) throw new UsageError("give --data DIR or --api URL, not both");
  return values.data !== undefined ? dataSource(values.data) : apiSource(values);
}

function dataSource(dir: string): TestSource {
  if (!existsSync(join(dir, "data.mdb"))) throw new UsageError(`--data ${dir}: no Kannon store there (kannon run --data DIR or kannon orchestrator --data DIR keeps one)`);
  const store = new Store(dir);
  const get = (id: string) => {
    const test = store.getTest(id);
    if (!test) throw new UsageError(`--data ${dir} holds no test "${id}" (kannon tests --data ${dir} lists them)`);
    return test;
  };
  return {
    flag: `--data ${dir}`,
    tests: async (limit) => {
      const out: Test[] = [];
      for (const { test } of store.testsNewestFirst()) if (out.push(test) >= limit) break;
      return out;
    },
    report: async (id) => {
      const test = get(id);
      const report = store.getReport(id);
      if (!report) throw new Error(`test "${id}" is ${TestState[test.state]}: it has no report${isEnded(test.state) ? "" : " until it ends"}`);
      return report;
    },
    intervals: async (id) => {
      get(id);
      return [...store.intervalsOf(id)].map(withoutHistograms);
    },
    close: () => store.close(),
  };
}

function apiSource(values: ApiValues): TestSource {
  const client = apiClient(values);
  const hint = "start one (kannon orchestrator), give --api URL, or read a kept run with --data DIR (kannon run --data DIR keeps its tests)";
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw explainUnreachable(err, values, hint);
    }
  };
  return {
    flag: values.api !== undefined ? `--api ${values.api}` : "",
    tests: (limit) => call(async () => (await client.listTests({ pageSize: Math.min(limit, 1000) })).tests),
    report: (id) =>
      call(async () => (await client.getReport({ testId: id })).report!),
    intervals: (id) =>
      call(() => allIntervals(client, id)),
    close: async () => undefined,
  };
}
