import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBus, type Bus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { createDriver, type DriverAgent } from "../driver/agent/driver.js";
import type { SampleTap } from "../driver/load/recorder.js";
import { LoadThreads } from "../driver/load/threads.js";
import { availableParallelism } from "node:os";
import { swallowed } from "../metrics/swallowed.js";
import { Orchestrator } from "../orchestrator/orchestrator.js";
import { startServer, type RunningServer } from "../orchestrator/server.js";
import { startTargetThread, type ThreadTarget } from "../target/target-thread.js";

/** Options of {@link startEmbedded}. */
export interface EmbeddedOptions {
  drivers?: number;
  /** LMDB directory; a temporary one (removed on close) when absent. */
  dataDir?: string | undefined;
  /** Control-plane port; 0 picks one. */
  port?: number;
  /** Start a target too (default true), on a worker thread of its own (target/target-thread.ts). */
  target?: boolean;
  log?: (message: string) => void;
  onSample?: SampleTap;
  /**
   * Load threads per driver (default 1). Whatever the count, the drivers' load runs in worker
   * threads (a pool of one fewer than the cores, at least one, shared by the drivers): the orchestrator and the API
   * share this process's main thread (the target has a thread of its own), and a busy main thread
   * must not show up in the latencies the drivers measure.
   */
  threads?: number;
  /**
   * Run the drivers' load on the main thread, as before the load threads existed: only for the
   * bench's before/after comparison of measured latency (bench/embedded-load.ts).
   */
  inline?: boolean;
}

/** Everything of a one-process Kannon: target, orchestrator with its API, drivers, in-process bus. */
export interface Embedded {
  bus: Bus;
  orchestrator: Orchestrator;
  server: RunningServer;
  drivers: DriverAgent[];
  target: ThreadTarget | undefined;
  dataDir: string;
  close(): Promise<void>;
}

/** Starts a whole fleet in this process over the in-process bus: the zero-setup default. */
export async function startEmbedded(options: EmbeddedOptions = {}): Promise<Embedded> {
  const log = options.log ?? (() => undefined);
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "kannon-")));
  const transport = createMemoryTransport();
  const bus = createBus(transport, { log });
  const drivers: DriverAgent[] = [];
  let target: ThreadTarget | undefined;
  let orchestrator: Orchestrator | undefined;
  let server: RunningServer | undefined;
  let pool: LoadThreads | undefined;
  const close = async () => {
    await Promise.all(drivers.map((d) => d.stop({ deadlineMs: 3000 })));
    await pool?.close();
    await server?.close();
    await orchestrator?.close();
    await bus.close();
    await target?.close();
    if (temporary) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    target = options.target === false ? undefined : await startTargetThread();
    orchestrator = await Orchestrator.open({ bus, dataDir, log, defaultTargetUrl: target ? `${target.url}/ping` : undefined });
    server = await startServer({ orchestrator, port: options.port ?? 0 });
    // The drivers' load threads: one pool, one thread fewer than the cores (the main thread runs the
    // orchestrator and the target: threads that outnumber the cores woke late at the common
    // start), each driver's parts spread round it.
    const threads = options.threads ?? 1;
    const driverCount = options.drivers ?? 3;
    if (!options.inline && driverCount > 0) {
      pool = new LoadThreads(Math.min(driverCount * threads, Math.max(1, availableParallelism() - 1)));
      await pool.start();
    }
    for (let i = 0; i < driverCount; i++) {
      const d = createDriver({ bus, id: `driver-${i + 1}`, log, onSample: options.onSample, threads, pool: pool ? { threads: pool, first: i * threads } : undefined });
      await d.start();
      drivers.push(d);
    }
    // Registration travels over the bus: wait until the orchestrator sees every driver.
    const deadline = Date.now() + 5000;
    while (orchestrator.fleet.ready().length < drivers.length) {
      if (Date.now() > deadline) throw new Error("embedded drivers did not register within 5 s");
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (err) {
    // Nothing half-started is left behind (processes' handles, the temporary data directory).
    await close().catch((closeErr: unknown) =>
      swallowed("embedded.close_after_failed_start", `kannon: closing the half-started embedded fleet failed too: ${String(closeErr)}`, console.warn),
    );
    throw err;
  }
  return { bus, orchestrator, server, drivers, target, dataDir, close };
}
