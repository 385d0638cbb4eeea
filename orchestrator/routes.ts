import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  CancelTestResponseSchema,
  CreateTestResponseSchema,
  DeleteTestResponseSchema,
  GetReportResponseSchema,
  GetTestResponseSchema,
  ListDriversResponseSchema,
  ListIntervalsResponseSchema,
  ListTestsResponseSchema,
  OrchestratorService,
  StartTestResponseSchema,
  WatchDriversResponseSchema,
  WatchTestResponseSchema,
} from "../gen/kannon/v1/orchestrator_pb.js";
import { Channel } from "./channel.js";
import { toConnectError } from "./errors.js";
import type { Orchestrator } from "./orchestrator.js";

/** Runs a handler body, mapping domain errors to Connect codes in one place. */
async function handle<T>(body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toConnectError(err);
  }
}

/** A stream's queue of `schema` messages, bounded in messages and in encoded bytes. */
function channelOf<Desc extends DescMessage>(schema: Desc): Channel<MessageShape<Desc>> {
  return new Channel<MessageShape<Desc>>({ sizeOf: (m) => toBinary(schema, m as MessageShape<Desc>).byteLength });
}

/** WatchTest: the domain's updates of a test, as responses, until its report (or the client leaves). */
function watchTest(o: Orchestrator, testId: string): Channel<MessageShape<typeof WatchTestResponseSchema>> {
  const ch = channelOf(WatchTestResponseSchema);
  ch.onClose = o.watchTest(testId, { update: (u) => ch.push(create(WatchTestResponseSchema, u)), end: () => ch.end() });
  return ch;
}

/** WatchDrivers: the whole fleet once, then one changed driver per response. */
function watchDrivers(o: Orchestrator): Channel<MessageShape<typeof WatchDriversResponseSchema>> {
  const ch = channelOf(WatchDriversResponseSchema);
  ch.push(create(WatchDriversResponseSchema, { drivers: o.fleet.list() }));
  ch.onClose = o.fleet.subscribe((changed) => ch.push(create(WatchDriversResponseSchema, { changed })));
  return ch;
}

/** Streams from an iterable the domain returns, mapping its errors; ends when the client goes away. */
async function* stream<T>(open: () => AsyncIterable<T>, ctx: HandlerContext): AsyncGenerator<T> {
  let source: AsyncIterable<T>;
  try {
    source = open();
  } catch (err) {
    throw toConnectError(err);
  }
  const it = source[Symbol.asyncIterator]();
  const onAbort = () => void it.return?.();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (err) {
        throw toConnectError(err);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    await it.return?.();
  }
}

/** The OrchestratorService routes: each handler validates through the domain and maps the result. */
export function orchestratorRoutes(o: Orchestrator): (router: ConnectRouter) => void {
  return (router) =>
    router.service(OrchestratorService, {
      createTest: (req) => handle(async () => create(CreateTestResponseSchema, { test: await o.createTestFetching(req.spec) })),
      startTest: (req) => handle(async () => create(StartTestResponseSchema, { test: await o.startTest(req.testId) })),
      cancelTest: (req) => handle(async () => create(CancelTestResponseSchema, { test: await o.cancelTest(req.testId) })),
      getTest: (req) => handle(() => create(GetTestResponseSchema, { test: o.getTest(req.testId) })),
      listTests: (req) =>
        handle(() => {
          const page = o.listTests({ pageSize: req.pageSize, pageToken: req.pageToken, state: req.state });
          return create(ListTestsResponseSchema, { tests: page.items, nextPageToken: page.nextPageToken });
        }),
      listDrivers: (req) =>
        handle(() => {
          const page = o.listDrivers({ pageSize: req.pageSize, pageToken: req.pageToken });
          return create(ListDriversResponseSchema, { drivers: page.items, nextPageToken: page.nextPageToken, defaultTargetUrl: o.defaultTargetUrl });
        }),
      listIntervals: (req) =>
        handle(() => {
          const page = o.listIntervals(req.testId, { pageSize: req.pageSize, pageToken: req.pageToken });
          return create(ListIntervalsResponseSchema, { intervals: page.items, nextPageToken: page.nextPageToken });
        }),
      deleteTest: (req) => handle(async () => (await o.deleteTest(req.testId), create(DeleteTestResponseSchema, {}))),
      getReport: (req) => handle(() => create(GetReportResponseSchema, { report: o.getReport(req.testId) })),
      watchTest: (req, ctx) => stream(() => watchTest(o, req.testId), ctx),
      watchDrivers: (_req, ctx) => stream(() => watchDrivers(o), ctx),
    });
}
