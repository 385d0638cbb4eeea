/**
 * The Python client example (python/examples/client.py, grpcio stubs generated from proto/)
 * against a real Kannon: `kannon run --stay` as its own process (orchestrator, two drivers and the
 * built-in target on 127.0.0.1 over the in-process bus). The example creates, starts and streams
 * WatchTest to the end; its printed totals must equal the target's own count and the stored report.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { grpcClient, targetCounts } from "./helpers.js";
import { startKannon, type KannonProcess } from "./processes.js";

const root = join(import.meta.dirname, "..");
const example = join(root, "python", "examples", "client.py");
const DRIVERS = 2;

/** Runs the example with the venv's python; never throws. */
function runExample(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      inject("python"),
      [example, ...args],
      // grpcio honours http_proxy: keep loopback calls off any proxy of the machine.
      { cwd: root, timeout: 60_000, env: { ...process.env, no_grpc_proxy: "127.0.0.1,localhost", ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** `key=value` pairs of the example's last line (`final: state=… requests=…`). */
function finalLine(stdout: string): Record<string, string> {
  const line = stdout.split("\n").find((l) => l.startsWith("final: "));
  if (!line) throw new Error(`no final line in:\n${stdout}`);
  return Object.fromEntries(line.slice("final: ".length).split(" ").map((kv) => kv.split("=", 2) as [string, string]));
}

describe("the Python grpcio client example against a real Kannon", () => {
  let kannon: KannonProcess;
  let api: string;
  let target: string;
  beforeAll(async () => {
    // A tiny first test (kannon run always runs one), then the fleet stays up for the example.
    const { proc, match } = await startKannon(
      ["run", "--drivers", String(DRIVERS), "--requests", "5", "--concurrency", "1", "--stay"],
      /staying up; the API is at (http:\/\/\S+)/,
      60_000,
    );
    kannon = proc;
    api = match[1]!;
    target = proc.output().match(/target at (http:\/\/[\d.:]+)/)![1]!;
  });
  afterAll(async () => {
    await kannon?.stop();
  });

  it("creates, starts and watches a test to the end; the totals it prints equal the target's count", async () => {
    const perDriver = 400;
    const before = (await targetCounts(target)).requests;
    const r = await runExample(["--api", api, "--target", `${target}/ping`, "--concurrency", "3", "--requests-per-driver", String(perDriver), "--report-interval-ms", "100"]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stdout).toBe(0);
    const after = (await targetCounts(target)).requests;

    const lines = r.stdout.trim().split("\n");
    const id = lines[0]!.match(/^created test ([0-9a-f-]{36}) \(CREATED\)$/)?.[1];
    expect(id, lines[0]).toBeDefined();
    expect(lines[1]).toBe(`started on ${DRIVERS} driver(s): driver-1, driver-2`);
    expect(lines).toContain("state RUNNING");
    expect(lines).toContain("state COMPLETED");
    // Progress streamed while it ran: at least one merged interval, cumulative counts never shrinking.
    const soFar = lines.filter((l) => l.startsWith("interval ")).map((l) => Number(l.match(/so far (\d+) requests$/)![1]));
    expect(soFar.length).toBeGreaterThan(0);
    expect([...soFar].sort((a, b) => a - b)).toEqual(soFar);
    expect(soFar.at(-1)).toBe(DRIVERS * perDriver);

    const final = finalLine(r.stdout);
    expect(final.state).toBe("COMPLETED");
    expect(Number(final.requests)).toBe(after - before);
    expect(Number(final.requests)).toBe(DRIVERS * perDriver);
    expect(final.errors).toBe("0");
    expect(final.partial).toBe("false");
    expect(final.drivers).toBe(`driver-1:${perDriver},driver-2:${perDriver}`);

    // What it printed is the stored report's numbers, not something of its own making.
    const { report } = await grpcClient(api).getReport({ testId: id! });
    expect(Number(final.p50_us)).toBe(Number(report!.total!.latency!.p50Us));
    expect(Number(final.p99_us)).toBe(Number(report!.total!.latency!.p99Us));
    expect(Number(final.max_us)).toBe(Number(report!.total!.latency!.maxUs));
    expect(Number(final.requests)).toBe(Number(report!.total!.requests));
  });

  it("a refused spec is an RPC error: exit 3 with the server's invalid_argument message", async () => {
    const r = await runExample(["--api", api, "--target", "ftp://example.test/x"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^rpc failed: INVALID_ARGUMENT: .*spec\.target_url/);
    expect(r.stdout).toBe("");
  });
});
