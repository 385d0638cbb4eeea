/** What a zero field of a test spec means; drivers and the orchestrator share these. */

/** `report_interval_ms` when 0. */
export const DEFAULT_REPORT_INTERVAL_MS = 1000;
/** `request_timeout_ms` when 0. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** `start_delay_ms` when 0: enough for every driver to receive the trigger before the start. */
export const DEFAULT_START_DELAY_MS = 1000;
/**
 * A driver that starts this much later than the fleet's start_at is a late start: the orchestrator
 * flags it in the report, and the driver runs its schedule from its own start instead of bursting
 * to catch up.
 */
export const LATE_START_MS = 50;
/** How often every driver heartbeats. */
export const HEARTBEAT_INTERVAL_MS = 1000;
/** Heartbeats a driver may miss before the orchestrator calls it MISSING. */
export const MISSED_HEARTBEATS_LIMIT = 3;

/** Most load threads one driver runs (`--threads`). */
export const MAX_DRIVER_THREADS = 64;

/** Most requests in flight on one connection (avalanche's HTTP/1.1 pipelining). */
export const MAX_PIPELINING = 256;

/** Most HTTP/2 streams in flight on one connection a test may ask for (TestSpec.http.streams_per_connection). */
export const MAX_STREAMS = 1000;
/** Most HTTP/2 connections per driver a test may ask for (TestSpec.http.connections). */
export const MAX_CONNECTIONS = 10_000;
