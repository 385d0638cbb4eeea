import { create, fromJson } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { HttpOptionsSchema, HttpVersion, TlsOptionsSchema, type HttpOptions } from "../gen/kannon/v1/protocol_pb.js";
import { TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { DEFAULT_STREAMS } from "../driver/transport/connection-options.js";
import { validateSpec, type FieldProblem } from "../orchestrator/validate.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, MAX_DRIVER_THREADS } from "../workload/defaults.js";
import { applyRpcFlags, rpcFlags, RPC_FLAG_OF_FIELD } from "./rpc-flags.js";
import { durationFlag, intFlag, UsageError, type FlagTable, type FlagValues } from "./args.js";
import { TLS_FLAG_OF_FIELD, tlsFlags, tlsOfFlags } from "./spec-tls.js";

/** Requests per driver when neither --requests nor --duration is given (avalanche and tsunami). */
export const DEFAULT_REQUESTS_PER_DRIVER = 5000;
/** An arrival-rate test's duration when --duration is not given. */
const DEFAULT_ARRIVAL_DURATION_MS = 3000;

/** Command-line flags that describe a test, shared by `kannon run` and `kannon test`. */
export const specFlags = {
  url: { type: "string", value: "URL", help: "the target every request goes to" },
  method: { type: "string", short: "m", value: "METHOD", help: "the request method", default: "GET; POST with a body" },
  header: { type: "string", short: "H", multiple: true, value: "'NAME: VALUE'", help: "a request header (repeatable)" },
  body: { type: "string", value: "TEXT", help: "the request body, as text" },
  "body-file": { type: "string", value: "FILE", help: "the request body, the file's bytes" },
  name: { type: "string", value: "NAME", help: "the test's name", default: "kannon WORKLOAD" },
  workload: { type: "string", short: "w", value: "W", help: "avalanche (closed: each connection sends when answered), tsunami (a request every --delay per driver) or arrival-rate (--rate fleet-wide)", default: "avalanche" },
  drivers: { type: "string", value: "N", help: "drivers that share the load" },
  concurrency: { type: "string", short: "c", value: "N", help: "avalanche: connections per driver", default: "10" },
  requests: { type: "string", short: "n", value: "N", help: "requests per driver (avalanche, tsunami)", default: String(DEFAULT_REQUESTS_PER_DRIVER) },
  duration: { type: "string", short: "d", value: "DURATION", help: "how long instead of --requests (10s, 500ms, 2m; a plain number is ms)", default: `arrival-rate: ${DEFAULT_ARRIVAL_DURATION_MS / 1000}s` },
  delay: { type: "string", value: "DURATION", help: "tsunami: time between one driver's requests", default: "10ms" },
  rate: { type: "string", short: "r", value: "R", help: "arrival-rate: requests per second, fleet-wide", default: "100" },
  "max-in-flight": { type: "string", value: "N", help: "tsunami, arrival-rate: requests in flight per driver before starts are dropped", default: "unlimited" },
  interval: { type: "string", value: "DURATION", help: "report interval", default: "500ms" },
  timeout: { type: "string", value: "DURATION", help: "request timeout", default: `${DEFAULT_REQUEST_TIMEOUT_MS / 1000}s` },
  pipelining: { type: "string", value: "N", help: "avalanche: requests in flight per connection (targets that support HTTP/1.1 pipelining)", default: "1" },
  http2: { type: "boolean", help: "HTTP/2: h2c (prior knowledge) on http://, ALPN (h2, else http/1.1) on https://" },
  streams: { type: "string", value: "N", help: "HTTP/2: streams in flight per connection (h2load's -m)", default: "100" },
  connections: { type: "string", value: "N", help: "HTTP/2: connections per driver (h2load's -c); avalanche's --concurrency then defaults to connections × streams", default: "concurrency ÷ streams" },
  ...rpcFlags,
  ...tlsFlags,
  "duration-ms": { type: "string", aliasOf: "duration", help: "" },
  "delay-ms": { type: "string", aliasOf: "delay", help: "" },
  "interval-ms": { type: "string", aliasOf: "interval", help: "" },
  "timeout-ms": { type: "string", aliasOf: "timeout", help: "" },
} as const;

/** Values parsed from {@link specFlags}. */
export type SpecValues = FlagValues<typeof specFlags>;

/** The test's own flags (those -f replaces), by the name the values carry. */
export const SPEC_FLAG_NAMES = Object.entries(specFlags as FlagTable).filter(([, d]) => !d.aliasOf).map(([k]) => k);

/** A spec field as the user wrote it on the command line. */
const FLAG_OF_FIELD: [RegExp, string][] = [
  [/^spec\.target_url/, "--url"],
  [/^spec\.method/, "--method"],
  [/^spec\.headers\["(.*)"\]/, "-H $1"],
  [/^spec\.headers/, "-H"],
  [/^spec\.body/, "--body"],
  [/^spec\.name/, "--name"],
  [/^spec\.report_interval_ms/, "--interval"],
  [/^spec\.request_timeout_ms/, "--timeout"],
  [/^spec\.avalanche\.concurrency/, "--concurrency"],
  [/^spec\.avalanche\.pipelining/, "--pipelining"],
  [/^spec\.http\.streams_per_connection/, "--streams"],
  [/^spec\.http\.connections/, "--connections"],
  [/^spec\.http\.version/, "--http2"],
  [/^spec\.\w+\.requests_per_driver/, "--requests"],
  [/^spec\.\w+\.duration_ms/, "--duration"],
  [/^spec\.tsunami\.delay_ms/, "--delay"],
  [/^spec\.arrival_rate\.rate_per_s/, "--rate"],
  ...TLS_FLAG_OF_FIELD,
];

/** The problems of a spec built from flags, in the flags' words: "--concurrency must be at least 1". */
export function flagProblems(problems: readonly FieldProblem[]): string {
  return problems
    .map((p) => {
      const rule = [...FLAG_OF_FIELD, ...RPC_FLAG_OF_FIELD].find(([re]) => re.test(p.field));
      return `${rule ? p.field.replace(new RegExp(`${rule[0].source}.*`), rule[1]) : p.field} ${p.problem}`;
    })
    .join("; ");
}

/**
 * A target URL as typed, checked in the user's words: a missing scheme (`127.0.0.1:8080/ping`,
 * `localhost:8080`) gets the fix suggested.
 */
export function checkUrl(raw: string, flag = "--url"): void {
  const suggest = (why: string) => {
    let fixed: string | undefined;
    try {
      fixed = new URL(`http://${raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")}`).href;
    } catch {
      fixed = undefined;
    }
    return new UsageError(`${flag} "${raw}" ${why}${fixed ? `: did you mean ${fixed}?` : ""}`);
  };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) throw suggest("has no http:// or https:// in front");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${flag} "${raw}" is not a URL (expected http://HOST[:PORT]/PATH)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw suggest(`uses ${url.protocol.replace(/:$/, "")}; Kannon sends HTTP`);
}

/** `-H 'Name: value'` (repeatable) as a header map; a repeated name joins its values with ", ". */
export function headersFrom(raw: readonly string[] = []): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of raw) {
    const colon = h.indexOf(":");
    if (colon < 1) throw new UsageError(`-H "${h}" is not NAME: VALUE (e.g. -H 'content-type: application/json')`);
    const name = h.slice(0, colon).trim();
    const value = h.slice(colon + 1).trim();
    const same = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    if (same) headers[same] = `${headers[same]}, ${value}`;
    else headers[name] = value;
  }
  return headers;
}

/** A PEM file of a --tls-* flag as text, or a usage error naming the flag. */
function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The body of --body TEXT or --body-file FILE (one of them), or undefined. */
function bodyFrom(v: SpecValues): Uint8Array | undefined {
  if (v.body !== undefined && v["body-file"] !== undefined) throw new UsageError("give --body or --body-file, not both");
  if (v.body !== undefined) return new TextEncoder().encode(v.body);
  if (v["body-file"] === undefined) return undefined;
  try {
    return new Uint8Array(readFileSync(v["body-file"]));
  } catch (err) {
    throw new UsageError(`--body-file ${v["body-file"]}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Builds a test spec from flags and checks it as the orchestrator would, every problem in the
 * flags' words (a usage error); `defaultUrl` when --url is absent.
 */
export function specFromFlags(v: SpecValues, defaultUrl: string): TestSpec {
  const spec = buildSpec(v, defaultUrl);
  applyRpcFlags(spec, v);
  const tls = tlsOfFlags(v, readPem);
  if (tls) (spec.http ??= create(HttpOptionsSchema)).tls = fromJson(TlsOptionsSchema, tls);
  const problems = validateSpec(spec);
  if (problems.length > 0) throw new UsageError(flagProblems(problems));
  return spec;
}

function buildSpec(v: SpecValues, defaultUrl: string): TestSpec {
  const workload = v.workload ?? "avalanche";
  if (v.url !== undefined) checkUrl(v.url);
  if (v.requests !== undefined && v.duration !== undefined) throw new UsageError("give --requests or --duration, not both");
  const requests = v.requests !== undefined ? BigInt(intFlag(v, "requests", 0)) : undefined;
  const durationMs = v.duration !== undefined ? durationFlag(v, "duration", 0) : undefined;
  const limit =
    durationMs !== undefined
      ? { case: "durationMs" as const, value: durationMs }
      : { case: "requestsPerDriver" as const, value: requests ?? BigInt(DEFAULT_REQUESTS_PER_DRIVER) };
  const body = bodyFrom(v);
  const base = {
    name: v.name ?? `kannon ${workload}`,
    targetUrl: v.url ?? defaultUrl,
    method: (v.method ?? (body ? "POST" : "GET")).toUpperCase(),
    headers: headersFrom(v.header),
    ...(body ? { body } : {}),
    driverCount: intFlag(v, "drivers", 0),
    reportIntervalMs: durationFlag(v, "interval", 500),
    requestTimeoutMs: durationFlag(v, "timeout", 0),
  };
  const http = httpFrom(v);
  if (http) Object.assign(base, { http });
  if (v.pipelining !== undefined && workload !== "avalanche")
    throw new UsageError(`--pipelining applies to the avalanche workload only (open models send each request at its scheduled instant), not to ${workload}`);
  switch (workload) {
    case "avalanche":
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "avalanche", value: { concurrency: intFlag(v, "concurrency", defaultConcurrency(http)), limit, pipelining: intFlag(v, "pipelining", 0) } },
      });
    case "tsunami":
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "tsunami", value: { delayMs: durationFlag(v, "delay", 10), limit, maxInFlight: intFlag(v, "max-in-flight", 0) } },
      });
    case "arrival-rate": {
      if (v.requests !== undefined) throw new UsageError("--requests does not apply to arrival-rate: give --rate and --duration");
      const rate = Number(v.rate ?? "100");
      if (!Number.isFinite(rate) || rate <= 0) throw new UsageError(`--rate must be a number > 0, got "${v.rate}"`);
      return create(TestSpecSchema, {
        ...base,
        workload: { case: "arrivalRate", value: { ratePerS: rate, durationMs: durationMs ?? DEFAULT_ARRIVAL_DURATION_MS, maxInFlight: intFlag(v, "max-in-flight", 0) } },
      });
    }
    default:
      throw new UsageError(`--workload must be avalanche, tsunami or arrival-rate, not "${workload}"`);
  }
}

/** The test's `http` options from --http2, --streams and --connections (undefined: HTTP/1.1, the default). */
function httpFrom(v: SpecValues): HttpOptions | undefined {
  for (const flag of ["streams", "connections"] as const)
    if (v[flag] !== undefined && !v.http2) throw new UsageError(`--${flag} applies to HTTP/2 only: add --http2`);
  if (!v.http2) return undefined;
  return create(HttpOptionsSchema, { version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: intFlag(v, "streams", 0), connections: intFlag(v, "connections", 0) });
}

/** Avalanche's concurrency without --concurrency: HTTP/2 with --connections fills every stream (h2load's -c × -m), else 10. */
function defaultConcurrency(http: HttpOptions | undefined): number {
  return http && http.connections > 0 ? http.connections * (http.streamsPerConnection || DEFAULT_STREAMS) : 10;
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
