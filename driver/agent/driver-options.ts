/** The options and the interface of a fleet driver (createDriver in driver.ts). */
import type { Bus } from "../../bus/bus.js";
import type { DriverState } from "../../gen/kannon/v1/driver_pb.js";
import type { LoadThreads } from "../load/threads.js";
import type { SampleTap } from "../load/recorder.js";
import type { TransportKind } from "../transport/transport.js";

/** Options of createDriver (driver.ts). */
export interface DriverOptions {
  bus: Bus;
  /** Stable id; generated when absent. */
  id?: string | undefined;
  host?: string | undefined;
  address?: string | undefined;
  heartbeatIntervalMs?: number | undefined;
  armTimeoutMs?: number | undefined;
  log?: ((message: string) => void) | undefined;
  /** Test-only tap on every recorded request. */
  onSample?: SampleTap | undefined;
  /** Which transport sends every test's requests (default `fast`; `undici` for comparisons). */
  transport?: TransportKind | undefined;
  /**
   * Called when the orchestrator refuses this process because another live process uses its
   * driver id; the driver has stopped heartbeating and takes no tests by then.
   */
  onRefused?: ((reason: string) => void) | undefined;
  /**
   * Load threads (default 1): each runs its own connections and recorder and sends its part
   * of every test; the driver merges their intervals and publishes one. More than 1 implies
   * `workers`.
   */
  threads?: number | undefined;
  /**
   * Run the load in worker threads even with one thread, so that the measurement does not share
   * the main thread's event loop (the embedded fleet of `kannon run` does; default false: one
   * thread runs inline, the cheapest per request).
   */
  workers?: boolean | undefined;
  /**
   * Run the load on these shared threads instead of threads of the driver's own: the driver's
   * `threads` parts go to the pool's threads `first`, `first + 1`, … The pool's owner starts and
   * closes it.
   */
  pool?: { threads: LoadThreads; first: number } | undefined;
}

/** A driver in the fleet. */
export interface DriverAgent {
  readonly id: string;
  /** This process's random instance id (tells two processes with one driver id apart). */
  readonly instanceId: string;
  /** READY or BUSY. */
  readonly state: DriverState;
  /** Subscribes to the fleet topics, registers and starts heartbeating. */
  start(): Promise<void>;
  /**
   * Leaves the fleet gracefully: a running test is stopped and its final metrics published first,
   * then the driver says it is leaving. Forced after `deadlineMs`.
   */
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /** Resolves when the current test (if any) has published its final metrics. */
  idle(): Promise<void>;
  /** The ids of the worker threads that send this driver's load; empty when it runs inline. */
  readonly loadThreadIds: number[];
  /** The used heap of each load thread, in bytes (after a GC under --expose-gc); empty when inline. */
  threadHeaps(): Promise<number[]>;
}
