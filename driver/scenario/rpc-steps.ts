/**
 * A test's RPCs on the driver: each RPC step's call (rpc/wire.ts) prepared once from the schema the
 * orchestrator stored (TestSpec.rpc_schema.image), and a single-request RPC test (TestSpec.rpc)
 * written as the one scenario of one step it runs as.
 */
import { create } from "@bufbuild/protobuf";
import { ScenarioSchema, StepSchema } from "../../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import type { CompiledScenario, CompiledStep } from "../../scenario/compile.js";
import { schemaRegistry } from "../../rpc/check.js";
import { findMethod } from "../../rpc/schema.js";
import { codeOfFailure, prepareCall, type RpcCall } from "../../rpc/wire.js";
import type { ConnectionOptions } from "../transport/connection-options.js";
import { dialTarget } from "../transport/h2-dial.js";
import { H2FastTransport } from "../transport/h2-fast.js";
import { requestFrames } from "../transport/h2-frames.js";
import { fastPathCarries, h1Fallback } from "../transport/h2-transport.js";
import type { Transport, TransportKind } from "../transport/transport.js";
import { OneStepOutcomes } from "./one-step.js";
import type { ScenarioRecorder } from "./scenario-recorder.js";

/** The name of the step (and of its scenario) a single-request RPC test runs as. */
export const SINGLE_RPC_STEP = "rpc";

/** True when the test is one RPC (TestSpec.rpc) rather than scenarios or an HTTP request. */
export function isSingleRpc(spec: TestSpec): boolean {
  return spec.scenarios.length === 0 && spec.rpc !== undefined;
}

/**
 * A single-request RPC test as the one scenario of one step it runs as: the RPC at target_url's
 * origin, the test's headers as its metadata. The report keeps no per-step rows for it
 * (ScenarioRecorder.recordTotalsOnly), as for a plain test.
 */
export function singleRpcSpec(spec: TestSpec): TestSpec {
  const step = create(StepSchema, { name: SINGLE_RPC_STEP, url: new URL(spec.targetUrl).origin, headers: spec.headers, rpc: spec.rpc });
  return { ...spec, headers: {}, rpc: undefined, scenarios: [create(ScenarioSchema, { name: SINGLE_RPC_STEP, weight: 1, steps: [step] })] };
}

/**
 * Each RPC step's call, by step index (undefined for an HTTP step). `defaultTimeoutMs`: the call's
 * deadline when its Rpc.timeout_ms is 0. Throws naming every problem (no schema, a method the
 * schema lacks, a streaming kind that cannot be called); CreateTest refuses these already.
 */
export function rpcCalls(spec: TestSpec, scenarios: readonly CompiledScenario[], defaultTimeoutMs: number): (RpcCall | undefined)[] {
  const steps = scenarios.flatMap((s) => s.steps.filter((step) => step.rpc !== undefined));
  const calls: (RpcCall | undefined)[] = [];
  if (steps.length === 0) return calls;
  // The registry and each step's method were found when the scenarios compiled (schemaRegistry reads an image once).
  const registry = schemaRegistry(spec);
  if (registry === undefined || spec.rpcSchema!.image.length === 0) throw new Error("the test has RPC steps but no schema (rpc_schema.image is empty)");
  if (typeof registry === "string") throw new Error(`the test's RPC schema ${registry}`);
  const problems: string[] = [];
  for (const step of steps) {
    const rpc = step.rpc!;
    const method = rpc.method ?? findMethod(registry, rpc.spec.service, rpc.spec.method);
    if (typeof method === "string") {
      problems.push(`step "${step.name}": ${method}`);
      continue;
    }
    try {
      calls[step.index] = prepareCall(rpc.spec, method, defaultTimeoutMs, registry);
    } catch (err) {
      problems.push(`step "${step.name}": ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`the test's RPCs cannot be called: ${problems.join("; ")}`);
  return calls;
}

/** {@link OneStepOutcomes} of an RPC: the call's own deadline (the transport's `timeout`) is the code deadline_exceeded. */
class RpcOneStepOutcomes extends OneStepOutcomes {
  override error(kind: string, scheduledMs: number, sentMs: number, endMs: number): void {
    const code = codeOfFailure(kind);
    if (code) this.rpc(code, 0, scheduledMs, sentMs, endMs, 0, Number.NaN);
    else super.error(kind, scheduledMs, sentMs, endMs);
  }
}

/**
 * The fixed-request transport of a one-step test whose step is a unary gRPC call with a constant
 * request ({@link oneConstantStep}) on h2c or HTTP/2 over TLS: the HTTP/2 fast path (h2-fast.ts)
 * sending the call's prebuilt frames, each answer recorded by the code of its grpc-status. A TLS
 * server that picks HTTP/1.1 gets the calls over HTTP/1.1, as on the exchange ({@link h1Fallback}).
 * Undefined when the call does not fit (another protocol, a server stream, a request over one
 * frame, a handshake per request): the exchange runs it.
 */
export function grpcFastTransport(step: CompiledStep, call: RpcCall, origin: URL, recorder: ScenarioRecorder, scheduled: boolean, http: ConnectionOptions, kind: TransportKind | undefined): Transport | undefined {
  if (call.protocol !== "grpc" || call.streaming || http.version !== 2 || !fastPathCarries(origin, http)) return undefined;
  const body = call.encode(step.rpc!.json.literals[0]!);
  if (!(body instanceof Uint8Array)) return undefined;
  const url = call.url(origin);
  const headers = call.headers(Object.fromEntries(step.headers.map(([name, t]) => [name, t.literals[0]!])));
  const frames = requestFrames("POST", url, headers, body);
  if (!frames) return undefined;
  const template = { url, method: "POST", headers, body, timeoutMs: call.timeoutMs };
  const outcomes = new RpcOneStepOutcomes(step, recorder, scheduled);
  return new H2FastTransport(template, frames, dialTarget(url, http), outcomes, http, true, h1Fallback(url, kind, call.timeoutMs, http, (ms) => outcomes.handshake(ms)));
}
