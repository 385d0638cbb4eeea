import { create } from "@bufbuild/protobuf";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { MAX_DRIVER_THREADS } from "../workload/defaults.js";

/** Command-line flags that describe a test, shared by `kannon run` and `kannon test`. */
export const specFlags = {
  url: { type: "string" },
  method: { type: "string" },
  workload: { type: "string" },
  drivers: { type: "string" },
  concurrency: { type: "string" },
  requests: { type: "string" },
  "duration-ms": { type: "string" },
  "delay-ms": { type: "string" },
  rate: { type: "string" },
  "max-in-flight": { type: "string" },
  "interval-ms": { type: "string" },
  "timeout-ms": { type: "string" },
  pipelining: { type: "string" },
} as const;

/** Values parsed from {@link specFlags}. */
export type SpecValues = { [K in keyof typeof specFlags]?: string | undefined };

/** A flag's non-negative integer value, or a usage error naming the flag. */
export function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number ≥ 0, got "${String(raw)}"`);
  return n;
}

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {}

/** Builds a test spec from flags; the orchestrator validates the result. */
export function specFromFlags(v: SpecValues, defaultUrl: string): TestSpec {
  const workload = v.workload ?? "avalanche";
  const requests = v.requests !== undefined ? BigInt(intFlag(v, "requests", 0)) : undefined;
  const durationMs = v["duration-ms"] !== undefined ? intFlag(v, "duration-ms", 0) : undefined;
  const limit =
    durationMs !== undefined
      ? { case: "durationMs" as const, value: durationMs }
      : { case: "requestsPerDriver" as const, value: requests ?? 1000n };
  const base = {
    name: `kannon ${workload}`,
    targetUrl: v.url ?? defaultUrl,
    method: v.method ?? "GET",
    driverCount: intFlag(v, "drivers", 0),
    reportIntervalMs: intFlag(v, "interval-ms", 500),
    requestTimeoutMs: intFlag(v, "timeout-ms", 0),
  };
  if (v.pipelining !== undefined && workload !== "avalanche")
    throw new UsageError(`--pipelining applies to the avalanche workload only (open models send each request at its scheduled instant), not to ${workload}`);
  switch (workload) {
    case "avalanche":
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "avalanche", value: { concurrency: intFlag(v, "concurrency", 10), limit, pipelining: intFlag(v, "pipelining", 0) } },
      });
    case "tsunami":
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "tsunami", value: { delayMs: intFlag(v, "delay-ms", 10), limit, maxInFlight: intFlag(v, "max-in-flight", 0) } },
      });
    case "arrival-rate": {
      const rate = Number(v.rate ?? "100");
      if (!Number.isFinite(rate) || rate <= 0) throw new UsageError(`--rate must be a number > 0, got "${v.rate}"`);
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "arrivalRate", value: { ratePerS: rate, durationMs: durationMs ?? 3000, maxInFlight: intFlag(v, "max-in-flight", 0) } },
      });
    }
    default:
      throw new UsageError(`--workload must be avalanche, tsunami or arrival-rate, not "${workload}"`);
  }
}

/** `--threads N`: a whole number from 1 to {@link MAX_DRIVER_THREADS}, or a usage error naming the flag. */
export function threadsFlag(values: Record<string, unknown>): number {
  const raw = values.threads;
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_DRIVER_THREADS)
    throw new UsageError(`--threads must be a whole number from 1 to ${MAX_DRIVER_THREADS} (load threads per driver), got "${String(raw)}"`);
  return n;
}
