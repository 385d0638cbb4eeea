/**
 * A spec file's `http:` section (TestSpec.http) as the user writes it, browser-safe:
 *
 *     http:
 *       version: 2          # or "2", h2, HTTP/2, HTTP_VERSION_2; 1.1 for HTTP/1.1 (the default)
 *       streams: 100        # HTTP/2 streams per connection (streamsPerConnection works too)
 *       connections: 4      # HTTP/2 connections per driver
 *       tls: {...}          # TlsOptions by their proto JSON names
 *
 * Problems are added through `bad`, named by the field path the orchestrator's validation uses.
 */
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { HttpOptionsSchema, HttpVersion, TlsOptionsSchema, type HttpOptions } from "../gen/kannon/v1/protocol_pb.js";

const VERSIONS = new Map<string, HttpVersion>([
  ["2", HttpVersion.HTTP_VERSION_2],
  ["h2", HttpVersion.HTTP_VERSION_2],
  ["http/2", HttpVersion.HTTP_VERSION_2],
  ["http_version_2", HttpVersion.HTTP_VERSION_2],
  ["1.1", HttpVersion.HTTP_VERSION_1_1],
  ["http/1.1", HttpVersion.HTTP_VERSION_1_1],
  ["http_version_1_1", HttpVersion.HTTP_VERSION_1_1],
]);

/** The `http` section's keys, by each spelling, and the field they set. */
const KEYS = new Map<string, "version" | "streamsPerConnection" | "connections" | "tls">([
  ["version", "version"],
  ["streams", "streamsPerConnection"],
  ["streamsPerConnection", "streamsPerConnection"],
  ["streams_per_connection", "streamsPerConnection"],
  ["connections", "connections"],
  ["tls", "tls"],
]);

/** The HttpOptions of a spec file's `http` value (undefined when absent or unreadable). */
export function httpOfDocument(raw: unknown, bad: (field: string, problem: string) => void): HttpOptions | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    bad("spec.http", "must be a mapping such as {version: 2, streams: 100, connections: 4}");
    return undefined;
  }
  const http = create(HttpOptionsSchema);
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const field = KEYS.get(key);
    if (field === undefined) {
      bad(`spec.http.${key}`, `is not an http option (version, streams, connections, tls)`);
      continue;
    }
    if (field === "version") {
      const v = VERSIONS.get(String(value).toLowerCase());
      if (v === undefined) bad("spec.http.version", `must be 2 (HTTP/2) or 1.1 (HTTP/1.1), got ${JSON.stringify(value)}`);
      else http.version = v;
    } else if (field === "tls") {
      try {
        http.tls = fromJson(TlsOptionsSchema, value as JsonValue);
      } catch (err) {
        bad("spec.http.tls", `cannot be read: ${(err as Error).message}`);
      }
    } else if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      bad(`spec.http.${field === "connections" ? "connections" : "streams_per_connection"}`, `must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    } else http[field] = value;
  }
  return http;
}
