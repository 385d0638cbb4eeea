import type { HeartbeatMessage, MetricsMessage, RegisterMessage } from "../gen/kannon/v1/bus_pb.js";
import { MAX_STEPS } from "./validate.js";

/**
 * Bounds on what arrives from the bus. Anyone who can write to the topics can send anything, so
 * every string and map is checked before it is used as a key, kept or shown: a record beyond a
 * bound is counted and skipped (it costs only itself), never truncated into something else.
 */
export const BUS_LIMITS = {
  /** A driver id: 1–256 characters, no control characters (it is part of store keys). */
  driverIdChars: 256,
  /** A test id (the orchestrator's are 36-character UUIDs). */
  testIdChars: 128,
  /** A driver process's instance id (a UUID, or 32 hex digits). */
  instanceIdChars: 128,
  /** A driver's error text on its final message (shown in the report). */
  errorChars: 4096,
  /** Entries of a metrics message's status or error counts, and the length of an error kind. */
  countEntries: 1000,
  errorKindChars: 128,
  /** Step and scenario blocks of a metrics message (a test has at most MAX_STEPS steps, and fewer scenarios). */
  stepEntries: MAX_STEPS,
} as const;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A driver id the fleet accepts: 1–256 characters, no control characters. */
export function validDriverId(id: string): boolean {
  return id.length > 0 && id.length <= BUS_LIMITS.driverIdChars && !CONTROL.test(id);
}

/** A test id as the bus may carry it: empty (no test), or a bounded id without control characters. */
function testIdProblem(id: string, what: string): string | undefined {
  if (id.length > BUS_LIMITS.testIdChars) return `${what} test_id of ${id.length} characters (at most ${BUS_LIMITS.testIdChars})`;
  if (CONTROL.test(id)) return `${what} test_id with control characters`;
  return undefined;
}

function driverIdProblem(id: string, what: string): string | undefined {
  return validDriverId(id) ? undefined : `${what} driver_id that is empty, over ${BUS_LIMITS.driverIdChars} characters or has control characters (${id.length} characters)`;
}

function instanceIdProblem(id: string, what: string): string | undefined {
  return id.length > BUS_LIMITS.instanceIdChars ? `${what} instance_id of ${id.length} characters (at most ${BUS_LIMITS.instanceIdChars})` : undefined;
}

/** Why a metrics message is out of bounds, or undefined; checked before any key is built from it. */
export function metricsProblem(m: MetricsMessage): string | undefined {
  const bad = driverIdProblem(m.driverId, "a metrics message with a") ?? testIdProblem(m.testId, "a metrics message with a");
  if (bad) return bad;
  if (!m.testId) return "a metrics message without test_id";
  if (m.error.length > BUS_LIMITS.errorChars) return `a metrics message with an error text of ${m.error.length} characters (at most ${BUS_LIMITS.errorChars})`;
  if (m.steps.length > BUS_LIMITS.stepEntries || m.scenarios.length > BUS_LIMITS.stepEntries)
    return `a metrics message with ${m.steps.length} step and ${m.scenarios.length} scenario blocks (at most ${BUS_LIMITS.stepEntries} each)`;
  for (const counted of [m, ...m.steps]) {
    const bad = countsProblem(counted);
    if (bad) return bad;
  }
  return undefined;
}

/**
 * Why a message's (or one of its steps') status, error, code and protocol counts are out of
 * bounds, or undefined.
 */
function countsProblem(m: Pick<MetricsMessage, "statusCounts" | "errorCounts" | "codeCounts"> & Partial<Pick<MetricsMessage, "protocolCounts">>): string | undefined {
  const statuses = Object.keys(m.statusCounts).length;
  const kinds = Object.keys(m.errorCounts);
  if (statuses > BUS_LIMITS.countEntries || kinds.length > BUS_LIMITS.countEntries)
    return `a metrics message with ${statuses} status and ${kinds.length} error counts (at most ${BUS_LIMITS.countEntries} each)`;
  if (kinds.some((k) => k.length > BUS_LIMITS.errorKindChars)) return `a metrics message with an error kind over ${BUS_LIMITS.errorKindChars} characters`;
  for (const [what, counts] of [["code", m.codeCounts], ["protocol", m.protocolCounts ?? {}]] as const) {
    const names = Object.keys(counts);
    if (names.length > BUS_LIMITS.countEntries) return `a metrics message with ${names.length} ${what} counts (at most ${BUS_LIMITS.countEntries})`;
    if (names.some((k) => k.length > BUS_LIMITS.errorKindChars)) return `a metrics message with a ${what} name over ${BUS_LIMITS.errorKindChars} characters`;
  }
  return undefined;
}

/** Why a heartbeat is out of bounds, or undefined. */
export function heartbeatProblem(m: HeartbeatMessage): string | undefined {
  return driverIdProblem(m.driverId, "a heartbeat with a") ?? testIdProblem(m.testId, "a heartbeat with a") ?? instanceIdProblem(m.instanceId, "a heartbeat with an");
}

/** Why a registration is out of bounds, or undefined (host, address and version are shown clipped). */
export function registerProblem(m: RegisterMessage): string | undefined {
  return driverIdProblem(m.driverId, "a registration with a") ?? instanceIdProblem(m.instanceId, "a registration with an");
}
