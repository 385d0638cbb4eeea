/**
 * A load part's transport for a scenario test (TestSpec.scenarios): the scenarios compiled once,
 * this part's data rows, and the choice between the single-request fast path (a one-step constant
 * scenario, {@link oneConstantStep}) and the {@link ScenarioTransport} over an Exchange.
 */
import { DataSplit } from "../../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import { compileScenarios } from "../../scenario/compile.js";
import { DataCursor, threadRows } from "../../scenario/data-cursor.js";
import { parseDataFile, rowsOfShare, type DataTable } from "../../scenario/data.js";
import { connectionOptionsForThread } from "../transport/connection-options.js";
import { createExchange } from "../transport/exchange.js";
import { createTransport, type Transport, type TransportKind } from "../transport/transport.js";
import { OneStepOutcomes, oneConstantStep } from "./one-step.js";
import type { RecorderShape, ScenarioRecorder } from "./scenario-recorder.js";
import { ScenarioTransport, type IterationCounter } from "./scenario-transport.js";
import { grpcFastTransport, rpcCalls } from "./rpc-steps.js";
import { resolveStepUrl } from "./step-request.js";

/** What a ScenarioRecorder of `spec` counts: its steps' check names in flattened order, and its scenarios. */
export function recorderShape(spec: TestSpec): RecorderShape {
  return { steps: spec.scenarios.flatMap((s) => s.steps.map((step) => step.checks.map((c) => c.name))), scenarios: spec.scenarios.length };
}

/**
 * This driver's part of each data file: the part the orchestrator delivered (`delivered`, by
 * name), else (a spec that still holds its content: an embedded run) the file parsed here and split
 * as DataFile.split says over the fleet's `share.count` drivers.
 */
export function driverData(spec: TestSpec, delivered: ReadonlyMap<string, DataTable> | undefined, share: { index: number; count: number }): Map<string, DataTable> {
  const out = new Map<string, DataTable>();
  for (const f of spec.dataFiles) {
    const part = delivered?.get(f.name);
    if (part) {
      out.set(f.name, part);
      continue;
    }
    if (!f.content) continue;
    const parsed = parseDataFile(f.format, f.content);
    if (parsed === undefined) throw new Error(`data file "${f.name}" has no format`);
    if (Array.isArray(parsed)) throw new Error(`data file "${f.name}" line ${parsed[0]!.line}: ${parsed[0]!.problem}`);
    const whole = f.split === DataSplit.WHOLE || share.index < 0 || share.count < 1;
    out.set(f.name, whole ? parsed : { columns: parsed.columns, rows: rowsOfShare(parsed.rows, share.index, share.count) });
  }
  return out;
}

/** Thread `thread`'s rows of each of its driver's parts (rows j ≡ thread.index mod thread.count). */
export function threadData(data: ReadonlyMap<string, DataTable>, thread: { index: number; count: number }): Map<string, DataTable> {
  return new Map([...data].map(([name, table]) => [name, threadRows(table, thread)]));
}

/** Options of {@link createScenarioTransport}. */
export interface ScenarioLoadOptions {
  spec: TestSpec;
  recorder: ScenarioRecorder;
  /** This thread's rows of each data file, by name. */
  data: ReadonlyMap<string, DataTable>;
  thread: { index: number; count: number };
  /** The driver's iteration counter, shared by its parts (ScenarioTransportOptions.counter). */
  counter: IterationCounter;
  driverId: string;
  kind: TransportKind | undefined;
  timeoutMs: number;
  /** Closed model: this thread's loops; 0 for the open models. */
  concurrency: number;
  pipelining: number;
  /** Open models: latencies count from the scheduled start. */
  scheduled: boolean;
  /** Told when no scenario can start an iteration any more (ScenarioTransportOptions.ended). */
  ended: () => void;
  /** Told once per data file whose rows ran out on this part (ScenarioTransportOptions.exhausted). */
  exhausted: (file: string) => void;
}

/** Most connections per origin an open model's iterations use when the spec sets no max_in_flight. */
const OPEN_CONNECTIONS = 1000;

/** The transport that runs this part's iterations. Throws naming every problem when the scenarios do not compile here. */
export function createScenarioTransport(o: ScenarioLoadOptions): Transport {
  const { spec } = o;
  const missing = spec.scenarios.filter((s) => s.dataFile && !o.data.has(s.dataFile)).map((s) => s.dataFile);
  if (missing.length > 0) throw new Error(`this driver holds no rows of data file(s) ${[...new Set(missing)].map((f) => `"${f}"`).join(", ")}`);
  const compiled = compileScenarios(spec, (name) => {
    const table = o.data.get(name);
    return table ? new Set(table.columns) : undefined;
  });
  if (compiled.problems.length > 0) throw new Error(`the test's scenarios do not compile: ${compiled.problems.map((p) => `${p.field}: ${p.problem}`).join("; ")}`);
  const targetUrl = new URL(spec.targetUrl);
  const calls = rpcCalls(spec, compiled.scenarios, o.timeoutMs);
  const http = connectionOptionsForThread(spec.http, o.thread);

  const one = oneConstantStep(compiled.scenarios);
  const oneCall = one && calls[one.index];
  const grpcFast = one && oneCall ? grpcFastTransport(one, oneCall, constantStepUrl(one.url.literals[0]!, targetUrl.origin), o.recorder, o.scheduled, http, o.kind) : undefined;
  if (grpcFast) return grpcFast;
  if (one && !one.rpc) {
    const body = one.body?.literals[0];
    return createTransport(
      {
        url: constantStepUrl(one.url.literals[0]!, targetUrl.origin),
        method: one.method,
        headers: Object.fromEntries(one.headers.map(([name, t]) => [name, t.literals[0]!])),
        body: body ? new TextEncoder().encode(body) : undefined,
        timeoutMs: o.timeoutMs,
      },
      new OneStepOutcomes(one, o.recorder, o.scheduled),
      { kind: o.kind, pipelining: o.pipelining, http },
    );
  }

  const cursors = new Map<string, DataCursor>();
  for (const f of spec.dataFiles) {
    const table = o.data.get(f.name);
    if (table) cursors.set(f.name, new DataCursor(table, f.order, f.onExhausted));
  }
  // An RPC step's timeout is its Rpc.timeout_ms (the test's when 0): the exchange's is the longest step's.
  const timeoutMs = Math.max(...compiled.scenarios.flatMap((s) => s.steps.map((step) => calls[step.index]?.timeoutMs ?? o.timeoutMs)));
  const exchange = createExchange({
    kind: o.kind,
    timeoutMs,
    connections: Math.max(1, o.concurrency > 0 ? o.concurrency : openCap(spec, o.thread)),
    http,
    handshake: (ms) => o.recorder.handshake(ms),
  });
  return new ScenarioTransport(
    {
      scenarios: compiled.scenarios,
      cursors,
      targetUrl,
      calls,
      driverId: o.driverId,
      counter: o.counter,
      ended: o.ended,
      exhausted: o.exhausted,
    },
    exchange,
    o.recorder,
  );
}

/** The open models' iterations in flight on this thread at most (max_in_flight split over the threads). */
function openCap(spec: TestSpec, thread: { index: number; count: number }): number {
  const w = spec.workload;
  const max = w.case === "tsunami" || w.case === "arrivalRate" ? w.value.maxInFlight : 0;
  const total = max > 0 ? max : OPEN_CONNECTIONS;
  return Math.ceil(total / thread.count);
}

/** The one constant step's URL, resolved as every step's is (resolveStepUrl); a URL that does not resolve is the run's error. */
function constantStepUrl(text: string, origin: string): URL {
  const url = resolveStepUrl(text, origin);
  if (!url) throw new Error(`the step's URL is not an http(s) URL: ${JSON.stringify(text.slice(0, 80))}`);
  return url;
}
