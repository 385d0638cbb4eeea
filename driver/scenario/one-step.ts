import type { CompiledScenario, CompiledStep } from "../../scenario/compile.js";
import { ResponseView, type ResponseLike } from "../../scenario/response.js";
import { isConstant } from "../../scenario/template.js";
import type { Outcomes } from "../transport/transport.js";
import type { ScenarioRecorder } from "./scenario-recorder.js";

/**
 * The step of a test that is one scenario of one constant request (no template slot, data row,
 * capture, think time, or check reading headers or body; an RPC's request JSON constant too), or undefined. Such a test runs on the
 * single-request transports (the fast path) with {@link OneStepOutcomes}: its iterations are
 * exactly its requests.
 */
export function oneConstantStep(scenarios: readonly CompiledScenario[]): CompiledStep | undefined {
  const s = scenarios[0];
  if (scenarios.length !== 1 || !s || s.dataFile !== undefined || s.steps.length !== 1) return undefined;
  const step = s.steps[0]!;
  if (step.captures.length > 0 || step.think !== undefined || (step.rpc && !isConstant(step.rpc.json))) return undefined;
  if (step.checks.some((c) => c.reads === "headers" || c.reads === "body")) return undefined;
  if (!isConstant(step.url) || step.headers.some(([, t]) => !isConstant(t)) || (step.body && !isConstant(step.body))) return undefined;
  return step;
}

const EMPTY = new Uint8Array(0);

/**
 * The sink of a one-step scenario on a single-request transport: records each outcome in the
 * totals (the recorder derives the step and the scenario from them: ScenarioRecorder.recordOneStep),
 * and evaluates the step's status and latency checks from the status and latency alone.
 */
export class OneStepOutcomes implements Outcomes {
  private readonly res: ResponseLike & { status: number; latencyMs: number } = { status: 0, headers: {}, body: EMPTY, latencyMs: 0 };
  private readonly view = new ResponseView(this.res);

  constructor(
    private readonly step: CompiledStep,
    private readonly recorder: ScenarioRecorder,
    /** Open models: latency counts from the scheduled start. */
    private readonly scheduled: boolean,
  ) {
    recorder.recordOneStep(step.index, step.scenarioIndex);
  }

  response(status: number, bytes: number, scheduledMs: number, sentMs: number, endMs: number): void {
    this.recorder.total.response(status, bytes, scheduledMs, sentMs, endMs);
    this.checkResponse(status, scheduledMs, sentMs, endMs);
  }

  /**
   * An RPC (see Outcomes.rpc): counted in the totals, and the step's checks evaluated on its
   * latency; its HTTP status is not reported, so a status check sees 0.
   */
  rpc(code: string, bytes: number, scheduledMs: number, sentMs: number, endMs: number, messages: number, firstMessageMs: number): void {
    this.recorder.total.rpc(code, bytes, scheduledMs, sentMs, endMs, messages, firstMessageMs);
    this.checkResponse(0, scheduledMs, sentMs, endMs);
  }

  protocol(name: "h2" | "http/1.1"): void {
    this.recorder.total.protocol(name);
  }

  handshake(ms: number): void {
    this.recorder.total.handshake(ms);
  }

  error(kind: string, scheduledMs: number, sentMs: number, endMs: number): void {
    const { step, recorder } = this;
    recorder.total.error(kind, scheduledMs, sentMs, endMs);
    if (step.abortOnFail) recorder.aborted(step.scenarioIndex, step.index);
  }

  /** Evaluates the step's checks on a response's status and latency. */
  private checkResponse(status: number, scheduledMs: number, sentMs: number, endMs: number): void {
    const { step, recorder } = this;
    const fromMs = this.scheduled ? scheduledMs : sentMs;
    this.res.status = status;
    this.res.latencyMs = endMs - fromMs;
    let failed = false;
    for (let k = 0; k < step.checks.length; k++) {
      const passed = step.checks[k]!.test(this.view);
      recorder.check(step.index, k, passed);
      if (!passed) failed = true;
    }
    if (failed && step.abortOnFail) recorder.aborted(step.scenarioIndex, step.index);
  }
}
