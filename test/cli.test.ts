import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { grpcClient } from "./helpers.js";
import { runKannon, startKannon } from "./processes.js";

const exec = promisify(execFile);
const root = join(import.meta.dirname, "..");

const kannon = runKannon;

describe("the kannon command", () => {
  it("`kannon run` (the quick start's demo) runs a real test over the embedded fleet, prints the summary, exits 0", async () => {
    const { code, out } = await kannon(["run", "--requests", "200", "--concurrency", "4"]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/test [0-9a-f-]{36} "kannon avalanche": COMPLETED/);
    expect(out).toContain("requests: 600 ");
    expect(out).toContain("errors: 0");
    expect(out).toMatch(/latency: p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms/);
    for (const d of ["driver-1", "driver-2", "driver-3"]) expect(out).toContain(`${d}: 200 requests`);
  });

  it("on a terminal, one status block updates in place (elapsed, remaining, req/s, p50/p99, errors, drivers); piped, one plain line per interval", async () => {
    // `script` gives the command a pseudo-terminal (util-linux).
    const { stdout } = await exec("script", ["-qec", `${process.execPath} --import tsx cli/kannon.ts run --workload tsunami --delay-ms 5 --duration-ms 2000`, "/dev/null"], {
      cwd: root,
      timeout: 60_000,
    });
    expect(stdout).toContain("\x1b[3A\x1b[J"); // the block redrawn in place
    expect(stdout).toMatch(/elapsed [\d.]+ s \/ remaining [\d.]+ s/);
    expect(stdout).toMatch(/req\/s \d+ {3}p50 [\d.]+ ms {3}p99 [\d.]+ ms {3}requests \d+ {3}errors 0 \(0\.00%\)/);
    expect(stdout).toMatch(/drivers: \d running, \d finished, 0 lost/);
    expect(stdout).not.toMatch(/ interval \d+ \(/);
    const piped = await kannon(["run", "--workload", "tsunami", "--delay-ms", "5", "--duration-ms", "1000"]);
    expect(piped.out).toMatch(/ interval 0 \(\d+ ms\): \d+ requests/);
    expect(piped.out).not.toContain("\x1b[");
  });

  it("thresholds: each printed with its measured value and verdict; exit 0 when all pass, 99 when one fails", async () => {
    const pass = await kannon(["run", "--requests", "200", "--threshold", "p99<10s", "--threshold", "error_rate<1%", "--threshold", "requests>=600"]);
    expect(pass.code, pass.out).toBe(0);
    expect(pass.out).toMatch(/✓ pass {2}p99<10s: [\d.]+ ms/);
    expect(pass.out).toMatch(/✓ pass {2}error_rate<1%: 0\.00%/);
    expect(pass.out).toMatch(/✓ pass {2}requests>=600: 600/);
    const fail = await kannon(["run", "--requests", "200", "--threshold", "p99<10s", "--threshold", "rps>=100000000"]);
    expect(fail.code, fail.out).toBe(99);
    expect(fail.out).toMatch(/✓ pass {2}p99<10s/);
    expect(fail.out).toMatch(/✗ FAIL {2}rps>=100000000: [\d.]+/);
  });

  it("--abort-on-fail cancels the test at the first breach and exits 99", async () => {
    const t0 = Date.now();
    const r = await kannon(["run", "--workload", "tsunami", "--delay-ms", "10", "--duration-ms", "20000", "--threshold", "p50<1us", "--abort-on-fail"]);
    expect(r.code, r.out).toBe(99);
    expect(r.out).toMatch(/threshold p50<1us breached: [\d.]+ ms so far/);
    expect(r.out).toMatch(/: CANCELLED/);
    expect(r.out).toMatch(/✗ FAIL {2}p50<1us/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("a threshold that does not parse, or --abort-on-fail without one, is a usage error (exit 2)", async () => {
    for (const [args, msg] of [
      [["--threshold", "p99<fast"], /is not METRIC\{SELECTOR\}\[WINDOW\] OP VALUE/],
      [["--threshold", "latency<1ms"], /unknown statistic "latency"/],
      [["--threshold", "p99{step:login}<1s", "--threshold", "p99[100ms]<1s", "--threshold", "p98<1s"], /3 threshold problems: --threshold\[0\] "p99\{step:login\}<1s": the test has no step "login" \(steps: none\); --threshold\[1\] "p99\[100ms\]<1s": the window 100 ms is shorter than the report interval \(500 ms\); --threshold\[2\] "p98<1s": unknown statistic "p98"/],
      [["--threshold", "p99<5kg"], /a latency takes us, ms or s/],
      [["--abort-on-fail"], /needs at least one --threshold/],
    ] as const) {
      const r = await kannon(["run", ...args]);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(msg);
    }
  });

  it("-f runs a test from a YAML or JSON spec file (proto JSON names, thresholds too); a bad file exits 2 listing every problem with its field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kannon-spec-"));
    try {
      const yaml = join(dir, "spec.yaml");
      await writeFile(yaml, "name: from a file\nreportIntervalMs: 250\ntsunami:\n  delayMs: 10\n  requestsPerDriver: 50\nthresholds:\n  - p99<10s\n  - requests>=150\n");
      const ok = await kannon(["run", "-f", yaml]);
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toContain("requests: 150 ");
      expect(ok.out).toMatch(/✓ pass {2}requests>=150: 150/);
      const json = join(dir, "spec.json");
      await writeFile(json, JSON.stringify({ avalanche: { concurrency: 2, requestsPerDriver: "20" }, thresholds: ["requests>1000"] }));
      const failing = await kannon(["run", "-f", json]);
      expect(failing.code, failing.out).toBe(99);
      const bad = join(dir, "bad.yaml");
      await writeFile(bad, 'targetUrl: ftp://x\nreportIntervalMs: "soon"\navalanche: {concurrency: 0, durationMs: 100}\ncolour: blue\nthresholds: p99\n');
      const r = await kannon(["run", "-f", bad]);
      expect(r.code, r.out).toBe(2);
      for (const field of ["spec.report_interval_ms", "spec.colour", "spec.target_url", "spec.avalanche.concurrency", "thresholds"]) expect(r.out).toContain(field);
      const both = await kannon(["run", "-f", yaml, "--concurrency", "5"]);
      expect(both.code).toBe(2);
      expect(both.out).toMatch(/drop --concurrency/);
      const broken = join(dir, "broken.yaml");
      await writeFile(broken, "a: [1, 2\n");
      const b = await kannon(["run", "-f", broken]);
      expect(b.code).toBe(2);
      expect(b.out).toMatch(/not YAML or JSON at line/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 naming the problem on a bad flag or a spec the orchestrator rejects", { timeout: 180_000 }, async () => {
    const unknown = await kannon(["run", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain("--bogus");
    const workload = await kannon(["run", "--workload", "nope"]);
    expect(workload.code).toBe(2);
    expect(workload.out).toContain("--workload must be avalanche, tsunami or arrival-rate");
    const rejected = await kannon(["run", "--concurrency", "0"]);
    expect(rejected.code).toBe(2);
    expect(rejected.out).toContain("--concurrency must be at least 1");
    const noUrl = await kannon(["test"]);
    expect(noUrl.code).toBe(2);
    expect(noUrl.out).toContain("--url");
    const driver = await kannon(["driver"]);
    expect(driver.code).toBe(2);
    expect(driver.out).toContain("--kafka");
    for (const bad of ["0", "65", "1.5", "two"]) {
      const threads = await kannon(["run", "--threads", bad]);
      expect(threads.code, threads.out).toBe(2);
      expect(threads.out).toContain(`--threads must be a whole number from 1 to 64 (load threads per driver), got "${bad}"`);
    }
    const driverThreads = await kannon(["driver", "--threads", "0", "--kafka", "127.0.0.1:1"]);
    expect(driverThreads.code).toBe(2);
    expect(driverThreads.out).toContain("--threads must be a whole number from 1 to 64");
    const pipeliningOpen = await kannon(["run", "--workload", "tsunami", "--pipelining", "4"]);
    expect(pipeliningOpen.code).toBe(2);
    expect(pipeliningOpen.out).toContain("--pipelining applies to the avalanche workload only");
    const pipeliningBad = await kannon(["run", "--pipelining", "many"]);
    expect(pipeliningBad.code).toBe(2);
    expect(pipeliningBad.out).toContain("--pipelining must be a whole number ≥ 0");
    const pipeliningHigh = await kannon(["run", "--pipelining", "300"]);
    expect(pipeliningHigh.code).toBe(2);
    expect(pipeliningHigh.out).toContain("--pipelining must be at most 256");
  });

  it("runs with --threads 2 and --pipelining 4: one result per driver, every request answered once", async () => {
    const { code, out } = await kannon(["run", "--drivers", "2", "--threads", "2", "--pipelining", "4", "--concurrency", "8", "--requests", "1000"]);
    expect(code, out).toBe(0);
    expect(out).toContain("2 drivers (in-process bus; each driver's load on 2 worker threads)");
    expect(out).toMatch(/requests: 2000\s/);
    expect(out).toContain("status: 200×2000");
    expect(out).toMatch(/driver-1: 1000 requests/);
    // Fewer connections than threads: the avalanche runs on one thread per connection, and sends every request.
    const few = await kannon(["run", "--drivers", "1", "--threads", "2", "--concurrency", "1", "--requests", "3"]);
    expect(few.code, few.out).toBe(0);
    expect(few.out).toContain("1 driver (in-process bus; each driver's load on 2 worker threads, 1 for this test (one per connection at most))");
    expect(few.out).toMatch(/requests: 3\s/);
    expect(out).toMatch(/driver-2: 1000 requests/);
  });

  it("exits 4 when the test completed but requests failed (nothing listens on the target)", async () => {
    const data = await mkdtemp(join(tmpdir(), "kannon-failing-"));
    const { code, out } = await kannon(["run", "--drivers", "1", "--requests", "5", "--concurrency", "1", "--url", "http://127.0.0.1:9/", "--data", data]);
    expect(code, out).toBe(4);
    expect(out).toContain("connect_refused×5");
    // Failing, in the headline; the errors right under it; no response-time percentiles.
    expect(out).toMatch(/: COMPLETED, FAILING — every request failed \(connect_refused×5\)/);
    expect(out).toContain("  errors: 5 of 5 (100%): connect_refused×5");
    expect(out).toContain("  latency: no samples");
    expect(out).toMatch(/failed requests, time to fail: p50 \d/);
    // kannon tests lists it as failing too.
    const tests = await kannon(["tests", "--data", data]);
    await rm(data, { recursive: true, force: true });
    expect(tests.out).toMatch(/\n[0-9a-f-]{36} +COMPLETED, FAILING +/);
  });

  it("Ctrl-C during `kannon run` cancels the test, still prints the report and exits 3", async () => {
    const { proc } = await startKannon(["run", "--workload", "tsunami", "--duration-ms", "20000", "--drivers", "1"], /started: tsunami/);
    await new Promise((r) => setTimeout(r, 1200));
    const exited = once(proc.child, "exit");
    proc.child.kill("SIGINT");
    const [code] = (await exited) as [number];
    expect(code, proc.output()).toBe(3);
    expect(proc.output()).toMatch(/: CANCELLED .*cancelled by request/);
    expect(proc.output()).not.toContain("cancel failed");
  });

  it("`kannon test` with no ready driver exits 3 and leaves no test waiting in CREATED", async () => {
    const { proc, match } = await startKannon(
      ["orchestrator", "--port", "0", "--data", `${root}/.kannon/cli-test-${process.pid}`, "--default-target", "http://127.0.0.1:9/ping"],
      /listening on (http:\/\/\S+)/,
    );
    try {
      const api = match[1]!;
      // --default-target is what ListDrivers offers (the dashboard's new-test form fills it in).
      expect((await grpcClient(api).listDrivers({})).defaultTargetUrl).toBe("http://127.0.0.1:9/ping");
      const { code, out } = await kannon(["test", "--api", api, "--url", "http://127.0.0.1:9/"]);
      expect(code, out).toBe(3);
      expect(out).toContain("needs 1 ready driver(s); 0 ready");
      const { tests } = await grpcClient(api).listTests({});
      expect(tests.length).toBeGreaterThan(0);
      expect(tests.every((t) => t.state !== TestState.CREATED)).toBe(true);
    } finally {
      await proc.stop();
      await exec("rm", ["-rf", `${root}/.kannon/cli-test-${process.pid}`]);
    }
  });

  it("bare `kannon` and an orchestrator off loopback without a token are usage errors (exit 2)", async () => {
    expect((await kannon([])).code).toBe(2);
    const offLoopback = await kannon(["orchestrator", "--host", "0.0.0.0"]);
    expect(offLoopback.code).toBe(2);
    expect(offLoopback.out).toContain("--token");
    const badTarget = await kannon(["orchestrator", "--default-target", "127.0.0.1:8081/ping"]);
    expect(badTarget.code).toBe(2);
    expect(badTarget.out).toContain("--default-target must be an http:// or https:// URL");
  });
});
