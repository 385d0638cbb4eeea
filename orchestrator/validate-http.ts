/**
 * The checks of a test's HTTP version and HTTP/2 connection options (TestSpec.http): part of
 * orchestrator/validate.ts's checkSpec, every problem named by its field.
 */
import { HttpVersion } from "../gen/kannon/v1/protocol_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";
import { MAX_CONNECTIONS, MAX_STREAMS } from "../workload/defaults.js";


/** Adds the problems of `spec.http` (version, streams, connections) to `bad`. */
export function checkHttp(spec: TestSpec, bad: (field: string, problem: string) => void): void {
  const http = spec.http;
  if (http === undefined) return;
  const version = http.version;
  if (version !== HttpVersion.HTTP_VERSION_UNSPECIFIED && version !== HttpVersion.HTTP_VERSION_1_1 && version !== HttpVersion.HTTP_VERSION_2)
    bad("spec.http.version", `must be HTTP_VERSION_1_1 or HTTP_VERSION_2, got ${version}`);
  const h2 = version === HttpVersion.HTTP_VERSION_2;
  const onlyH2 = "applies to HTTP/2 only: set http.version to HTTP_VERSION_2 (--http2), or leave it out";
  if (!h2) {
    if (http.streamsPerConnection > 0) bad("spec.http.streams_per_connection", onlyH2);
    if (http.connections > 0) bad("spec.http.connections", onlyH2);
    return;
  }
  const streams = http.streamsPerConnection || 100;
  if (http.streamsPerConnection > MAX_STREAMS) bad("spec.http.streams_per_connection", `must be from 1 to ${MAX_STREAMS} streams per connection (0 means 100), got ${http.streamsPerConnection}`);
  if (http.connections > MAX_CONNECTIONS) bad("spec.http.connections", `must be at most ${MAX_CONNECTIONS} connections per driver, got ${http.connections}`);
  if (http.tls?.handshakePerRequest)
    bad("spec.http.tls.handshake_per_request", "is HTTP/1.1 only (a new TLS connection per request); with HTTP/2, set http.connections to open more connections");
  const w = spec.workload;
  if (w.case !== "avalanche") return;
  if (w.value.pipelining > 1) bad("spec.avalanche.pipelining", "is HTTP/1.1 only: HTTP/2 multiplexes requests as streams (set http.streams_per_connection instead)");
  const c = http.connections;
  if (c > 0 && w.value.concurrency > c * streams)
    bad("spec.avalanche.concurrency", `${w.value.concurrency} is more than ${c} connections × ${streams} streams can carry: raise http.connections or http.streams_per_connection`);
  if (c > 0 && c > w.value.concurrency) bad("spec.http.connections", `${c} is more than the avalanche's concurrency ${w.value.concurrency}: a connection would carry no request`);
}
