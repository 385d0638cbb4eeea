import { randomInt, randomUUID } from "node:crypto";
import type { CompiledScenario, CompiledStep } from "../../scenario/compile.js";
import { ResponseView, type ResponseLike } from "../../scenario/response.js";
import type { RenderContext } from "../../scenario/template.js";
import { nowMs } from "../clock.js";
import { codeOfFailure, type RpcCall, type RpcRequest } from "../../rpc/wire.js";
import type { Exchange, ExchangeResult } from "../transport/exchange.js";
import type { ScenarioRecorder } from "./scenario-recorder.js";
import type { StepRequests } from "./step-request.js";

/** The error kind of a step whose rendered URL is not an http(s) URL (nothing was sent). */
export const INVALID_URL = "invalid_url";

/** What the iterations of one transport share. */
export interface IterationContext {
  exchange: Exchange;
  recorder: ScenarioRecorder;
  requests: StepRequests;
  driverId: string;
  /** Waits `ms` (the think time), or less when the transport closes. */
  sleep: (ms: number) => Promise<void>;
  isClosed: () => boolean;
}

/** One iteration to run: its scenario, its data row, its number on the driver. */
export interface Iteration {
  scenario: CompiledScenario;
  row: Record<string, string> | undefined;
  iteration: number;
}

/** A uniform integer in [min, max] (safe integers, min ≤ max). */
export function uniformInt(min: number, max: number): number {
  const span = max - min + 1;
  return span <= 2 ** 48 - 1 ? min + randomInt(span) : Math.min(max, min + Math.floor(Math.random() * span));
}

/** The clock in whole ms ({{now_ms}}): one function for every iteration, not a closure made per iteration. */
function wholeNowMs(): number {
  return Math.floor(nowMs());
}

/** The pause after `step` in ms (0 when it has none). */
export function thinkMs(step: CompiledStep): number {
  const t = step.think;
  return t === undefined ? 0 : t.minMs === t.maxMs ? t.minMs : uniformInt(t.minMs, t.maxMs);
}

/**
 * Runs one iteration's steps in order and records them. `scheduledMs` (open models) is the
 * iteration's scheduled start: the first step's latency and the iteration's duration count from it;
 * later steps count from their own send. Think time between steps is slept and counted nowhere.
 * Resolves with the pause the last step asks for (the closed model takes it before its next
 * iteration).
 *
 * Per step: a response is checked (every check counted) and captured from (a capture that finds
 * nothing is counted, and its variable is unset); a transport error has no check outcome, and its
 * captures find nothing. The iteration ends early after a step whose check failed (or that got no
 * response) with abort_iteration_on_fail, or one with a missing capture and
 * CAPTURE_MISSING_ABORT_ITERATION; it is counted as aborted at that step.
 */
export async function runIteration(it: Iteration, scheduledMs: number | undefined, c: IterationContext): Promise<number> {
  const vars = new Map<string, string>();
  const render: RenderContext = {
    row: it.row,
    vars,
    driverId: c.driverId,
    iteration: it.iteration,
    nowMs: wholeNowMs,
    uuid: randomUUID,
    randInt: uniformInt,
  };
  const steps = it.scenario.steps;
  let activeMs = 0;
  let abortedAt: number | undefined;
  let pause = 0;
  let ran = 0;
  for (let j = 0; j < steps.length; j++) {
    if (pause > 0) await c.sleep(pause);
    // Stopped between steps: the iteration ends with the steps it ran.
    if (c.isClosed()) break;
    const step = steps[j]!;
    const req = c.requests.build(step, render);
    const call = c.requests.call(step);
    let r: ExchangeResult;
    if ("problem" in req) {
      const now = nowMs();
      r = { ok: false, kind: req.kind ?? INVALID_URL, sentMs: now, endMs: now };
    } else r = await c.exchange.send(req, call ? call.keep : step.keep);
    ran++;
    const fromMs = j === 0 && scheduledMs !== undefined ? scheduledMs : r.sentMs;
    activeMs += r.endMs - fromMs;
    pause = thinkMs(step);
    const recorded = call && !("problem" in req) ? recordRpcStep(step, call, req as RpcRequest, r, fromMs, vars, c.recorder) : recordStep(step, r, fromMs, vars, c.recorder);
    if (!recorded) {
      abortedAt = step.index;
      break;
    }
  }
  if (ran > 0) c.recorder.iteration(it.scenario.index, activeMs, abortedAt);
  return c.isClosed() ? 0 : pause;
}

/** A step that got no response: its captures find nothing; false when the iteration must end here. */
function noResponse(step: CompiledStep, vars: Map<string, string>, recorder: ScenarioRecorder): boolean {
  for (const capture of step.captures) {
    vars.delete(capture.name);
    recorder.captureMissing(step.index);
  }
  return !(step.abortOnFail || (step.abortOnCaptureMissing && step.captures.length > 0));
}

/** Records one step's outcome, runs its checks and captures; false when the iteration must end here. */
function recordStep(step: CompiledStep, r: ExchangeResult, fromMs: number, vars: Map<string, string>, recorder: ScenarioRecorder): boolean {
  if (!r.ok) {
    recorder.error(step.index, r.kind, fromMs, r.sentMs, r.endMs);
    return noResponse(step, vars, recorder);
  }
  recorder.response(step.index, r.status, r.bytes, fromMs, r.sentMs, r.endMs);
  recorder.protocol(step.index, r.protocol);
  if (step.checks.length === 0 && step.captures.length === 0) return true;
  return checkAndCapture(step, { status: r.status, headers: r.headers, body: r.body, latencyMs: r.endMs - fromMs }, vars, recorder);
}

const EMPTY = new Uint8Array(0);

/**
 * Records an RPC step by its code (ScenarioRecorder.rpc): its checks and captures read the response
 * message as protobuf JSON (a stream's first), its headers and trailers, its HTTP status. The call's
 * own deadline is the code deadline_exceeded, with no response to check; other failures without a
 * response are error kinds, as for HTTP steps.
 */
function recordRpcStep(step: CompiledStep, call: RpcCall, req: RpcRequest, r: ExchangeResult, fromMs: number, vars: Map<string, string>, recorder: ScenarioRecorder): boolean {
  if (!r.ok) {
    const code = codeOfFailure(r.kind);
    if (code) recorder.rpc(step.index, code, 0, fromMs, r.sentMs, r.endMs, 0, Number.NaN);
    else recorder.error(step.index, r.kind, fromMs, r.sentMs, r.endMs);
    return noResponse(step, vars, recorder);
  }
  const wantMessage = step.keep.body;
  const out = call.classify(r, req, wantMessage);
  recorder.rpc(step.index, out.code, r.bytes, fromMs, r.sentMs, r.endMs, out.messages, out.firstMessageMs);
  recorder.protocol(step.index, r.protocol);
  if (step.checks.length === 0 && step.captures.length === 0) return true;
  const headers = step.keep.headers ? { ...r.headers, ...r.trailers } : r.headers;
  return checkAndCapture(step, { status: r.status, headers, body: out.message ?? EMPTY, latencyMs: r.endMs - fromMs }, vars, recorder);
}

/** Runs a response's checks and captures; false when the iteration must end here. */
function checkAndCapture(step: CompiledStep, res: ResponseLike, vars: Map<string, string>, recorder: ScenarioRecorder): boolean {
  const view = new ResponseView(res);
  let failed = false;
  for (let k = 0; k < step.checks.length; k++) {
    const passed = step.checks[k]!.test(view);
    recorder.check(step.index, k, passed);
    if (!passed) failed = true;
  }
  let missing = false;
  for (const capture of step.captures) {
    const value = capture.take(view);
    if (value === undefined) {
      vars.delete(capture.name);
      recorder.captureMissing(step.index);
      missing = true;
    } else vars.set(capture.name, value);
  }
  return !((failed && step.abortOnFail) || (missing && step.abortOnCaptureMissing));
}
