/**
 * The server's connection limits, with small values: a silent connection is closed after the
 * first-byte timeout and the oldest silent one when too many wait; an HTTP/1.1 request whose
 * headers never finish and an HTTP/2 session with no stream are closed; an HTTP/2 session with an
 * open (quiet) watch stream is not.
 */
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { createBus } from "../bus/bus.js";
import { RegisterMessageSchema } from "../gen/kannon/v1/bus_pb.js";
import { createMemoryTransport } from "../bus/memory.js";
import { grpcClient } from "../test/helpers.js";
import { Orchestrator } from "./orchestrator.js";
import { startServer, type RunningServer } from "./server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("server connection limits", () => {
  let dir: string;
  let o: Orchestrator;
  let server: RunningServer;
  const bus = createBus(createMemoryTransport());

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-limits-"));
    o = await Orchestrator.open({ bus, dataDir: dir, log: () => {} });
    server = await startServer({
      orchestrator: o,
      limits: { firstByteTimeoutMs: 300, maxSilent: 3, maxConnections: 50, headersTimeoutMs: 300, idleSessionTimeoutMs: 300 },
    });
  });
  afterAll(async () => {
    await server.close();
    await o.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A raw connection and when it was closed by the server (ms after it opened), or undefined. */
  async function connect(): Promise<{ socket: net.Socket; closedAfter: () => number | undefined }> {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.resume(); // read what the server answers, so its close is seen
    const opened = Date.now();
    let closedAt: number | undefined;
    socket.once("close", () => (closedAt = Date.now()));
    await new Promise((r) => socket.once("connect", r));
    return { socket, closedAfter: () => (closedAt === undefined ? undefined : closedAt - opened) };
  }

  it("a connection that sends nothing is closed after the first-byte timeout; the oldest of too many silent ones at once", async () => {
    const conns = [];
    for (let i = 0; i < 4; i++) conns.push(await connect());
    await sleep(100);
    expect(conns[0]!.closedAfter()).toBeDefined(); // evicted by the fourth
    expect(conns.slice(1).map((c) => c.closedAfter())).toEqual([undefined, undefined, undefined]);
    await sleep(700);
    for (const c of conns.slice(1)) expect(c.closedAfter()).toBeGreaterThanOrEqual(250);
  });

  it("an HTTP/1.1 request whose headers never end is closed", async () => {
    const c = await connect();
    c.socket.write("POST /kannon.v1.OrchestratorService/ListDrivers HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    await sleep(2500);
    expect(c.closedAfter()).toBeDefined();
  });

  it("an HTTP/2 session without a stream is closed; one with an open watch stream stays", async () => {
    const idle = http2.connect(server.url);
    idle.on("error", () => undefined);
    const closed = new Promise<void>((r) => idle.once("close", () => r()));
    await new Promise((r) => idle.once("connect", r));
    const abort = new AbortController();
    const watch = grpcClient(server.url).watchDrivers({}, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await watch.next()).done).toBe(false); // the fleet snapshot
    let ended = false;
    const next = watch.next().then(
      (r) => {
        ended = r.done === true;
        return r.value;
      },
      () => {
        ended = true;
        return undefined;
      },
    );
    await Promise.race([closed, sleep(3000)]);
    expect(idle.closed || idle.destroyed).toBe(true);
    await sleep(200);
    expect(ended).toBe(false);
    // The quiet watch (no message for longer than the idle timeout) still gets what happens next.
    await bus.publish("register", "late", create(RegisterMessageSchema, { driverId: "late", instanceId: "i" }));
    const changed = await Promise.race([next, sleep(3000).then(() => "timeout" as const)]);
    expect(changed !== "timeout" && changed?.changed?.id).toBe("late");
    abort.abort();
  });
});
