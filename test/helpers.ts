import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { DriverState } from "../gen/kannon/v1/driver_pb.js";
import { OrchestratorService, type WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import { TestSpecSchema, TestState, type Test, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** A generated OrchestratorService client. */
export type OrchestratorClient = Client<typeof OrchestratorService>;

/** A gRPC (HTTP/2 cleartext) client for a server URL. */
export function grpcClient(baseUrl: string): OrchestratorClient {
  return createClient(OrchestratorService, createGrpcTransport({ baseUrl }));
}

/** A test spec with the given fields. */
export function spec(init: MessageInitShape<typeof TestSpecSchema>): TestSpec {
  return create(TestSpecSchema, init);
}

/** Creates, starts and watches a test to its end; returns every streamed message. */
export async function runToEnd(client: OrchestratorClient, s: TestSpec): Promise<{ id: string; messages: WatchTestResponse[] }> {
  const { test } = await client.createTest({ spec: s });
  const id = test!.id;
  await client.startTest({ testId: id });
  const messages: WatchTestResponse[] = [];
  for await (const m of client.watchTest({ testId: id }, { timeoutMs: 60_000 })) messages.push(m);
  return { id, messages };
}

/** The target's own counts (GET /metrics). */
export async function targetCounts(targetUrl: string): Promise<{ requests: number; responses: number }> {
  const res = await fetch(`${targetUrl}/metrics`);
  return (await res.json()) as { requests: number; responses: number };
}

/** Polls `check` every 20 ms until it returns true or `ms` pass. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The Connect error a call fails with; throws when it succeeds. */
export async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/**
 * Creates and starts a test, and waits (up to `runningWithinMs`) until it runs. With
 * `retryUnavailable`, a StartTest answered `unavailable` (the bus not back yet after a broker
 * restart; the test stays startable) is tried again for up to 60 s, as a client would.
 */
export async function startRunning(
  client: OrchestratorClient,
  s: TestSpec,
  options: { runningWithinMs?: number; retryUnavailable?: boolean } = {},
): Promise<Test> {
  const { test } = await client.createTest({ spec: s });
  let started: Test | undefined;
  await until(
    async () => {
      try {
        started = (await client.startTest({ testId: test!.id })).test!;
        return true;
      } catch (err) {
        if (!options.retryUnavailable || ConnectError.from(err).code !== Code.Unavailable) throw err;
        await new Promise((r) => setTimeout(r, 250));
        return false;
      }
    },
    60_000,
    "StartTest to be accepted",
  );
  await until(async () => (await client.getTest({ testId: started!.id })).test!.state === TestState.RUNNING, options.runningWithinMs ?? 15_000, "RUNNING");
  return started!;
}

/** How many drivers are READY, over every page of ListDrivers (fleets of thousands). */
export async function readyDriverCount(client: OrchestratorClient): Promise<number> {
  let n = 0;
  for (let pageToken = ""; ; ) {
    const page = await client.listDrivers({ pageSize: 1000, pageToken });
    n += page.drivers.filter((d) => d.state === DriverState.READY).length;
    if (!(pageToken = page.nextPageToken)) return n;
  }
}

/** A port nothing listens on: one taken on 127.0.0.1, then closed. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
