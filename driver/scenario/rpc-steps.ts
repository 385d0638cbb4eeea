/**
 * A test's RPCs on the driver: each RPC step's call (rpc/wire.ts) prepared once from the schema the
 * orchestrator stored (TestSpec.rpc_schema.image), and a single-request RPC test (TestSpec.rpc)
 * written as the one scenario of one step it runs as.
 */
import { create } from "@bufbuild/protobuf";
import { ScenarioSchema, StepSchema } from "../../gen/kannon/v1/scenario_pb.js";
import type { TestSpec } from "../../gen/kannon/v1/test_pb.js";
import type { CompiledScenario } from "../../scenario/compile.js";
import { findMethod, registryFromImage } from "../../rpc/schema.js";
import { prepareCall, type RpcCall } from "../../rpc/wire.js";

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
  const image = spec.rpcSchema?.image;
  if (!image || image.length === 0) throw new Error("the test has RPC steps but no schema (rpc_schema.image is empty)");
  let registry;
  try {
    registry = registryFromImage(image);
  } catch (err) {
    throw new Error(`the test's RPC schema ${(err as Error).message}`);
  }
  const problems: string[] = [];
  for (const step of steps) {
    const rpc = step.rpc!.spec;
    const method = findMethod(registry, rpc.service, rpc.method);
    if (typeof method === "string") {
      problems.push(`step "${step.name}": ${method}`);
      continue;
    }
    try {
      calls[step.index] = prepareCall(rpc, method, defaultTimeoutMs, registry);
    } catch (err) {
      problems.push(`step "${step.name}": ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`the test's RPCs cannot be called: ${problems.join("; ")}`);
  return calls;
}
