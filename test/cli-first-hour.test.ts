/**
 * The `kannon` command as a process, as a user who knows k6 or autocannon meets it in the first
 * hour (issue 25): help and version, typos and bad values caught before anything starts, the
 * request's shape from flags and files, durations with units, what the terminal shows, `--out`,
 * and a kept run read back by `kannon tests` and `kannon report` after `kannon run` has exited.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedPort } from "./helpers.js";
import { runKannon as kannon, startKannon } from "./processes.js";

const root = join(import.meta.dirname, "..");

/** Every request a local target received: method, path, headers and body. */
interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

let dir: string;
let server: Server;
let target: string;
const seen: Seen[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-first-hour-"));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  target = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("kannon in the first hour", () => {
  it("--help per command shows its flags and real defaults, --version its version; typos and negative numbers get an answer in words (exit 2)", { timeout: 120_000 }, async () => {
    const help = await kannon(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: kannon run \[flags\]/);
    expect(help.out).toMatch(/-n, --requests N +requests per driver \(avalanche, tsunami\) \(default: 5000\)/);
    expect(help.out).toMatch(/-d, --duration DURATION +how long instead of --requests \(10s, 500ms, 2m/);
    const reportHelp = await kannon(["help", "report"]);
    expect(reportHelp.out).toMatch(/^usage: kannon report ID \[flags\]/);
    const version = await kannon(["--version"]);
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    expect(version.code).toBe(0);
    expect(version.out).toContain(`kannon ${pkg.version} (node ${process.version})`);
    const typo = await kannon(["run", "--concurency", "5"]);
    expect(typo.code).toBe(2);
    expect(typo.out).toContain("unknown flag --concurency: did you mean --concurrency?");
    const command = await kannon(["tset"]);
    expect(command.code).toBe(2);
    expect(command.out).toContain('unknown command "tset": did you mean kannon test?');
    const negative = await kannon(["run", "-c", "-5"]);
    expect(negative.code).toBe(2);
    expect(negative.out).toContain('--concurrency must be a whole number ≥ 0, got "-5" (a negative number)');
    expect(negative.out).not.toMatch(/ambiguous/i);
  });

  it("a bad --url or value is refused before the fleet starts, naming the flag and the fix, not spec.target_url (exit 2)", { timeout: 120_000 }, async () => {
    for (const [url, fix] of [
      ["127.0.0.1:35843/ping", "http://127.0.0.1:35843/ping"],
      ["localhost:35843", "http://localhost:35843/"],
    ]) {
      const r = await kannon(["run", "--url", url!]);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toContain(`kannon run: --url "${url}" has no http:// or https:// in front: did you mean ${fix}?`);
      expect(r.out).not.toContain("orchestrator at"); // nothing started
      expect(r.out).not.toContain("spec.");
    }
    const remote = await kannon(["test", "--url", "localhost:35843", "--api", `http://127.0.0.1:${await closedPort()}`]);
    expect(remote.code, remote.out).toBe(2);
    expect(remote.out).toContain("did you mean http://localhost:35843/?");
    const values = await kannon(["run", "--concurrency", "0", "--interval", "50ms"]);
    expect(values.code).toBe(2);
    expect(values.out).toContain("kannon run: --interval must be at least 100 (or 0 for the default 1000), got 50; --concurrency must be at least 1");
    expect(values.out).not.toContain("orchestrator at");
  });

  it("-H (repeatable), --body and --body-file shape every request; a body without -m is a POST; -f takes a text body", { timeout: 120_000 }, async () => {
    seen.length = 0;
    const r = await kannon(["run", "--drivers", "1", "-c", "1", "-n", "3", "--url", `${target}/flags`, "-H", "x-kannon-test: yes", "-H", "content-type: application/json", "--body", '{"a":1}']);
    expect(r.code, r.out).toBe(0);
    const flags = seen.filter((s) => s.url === "/flags");
    expect(flags).toHaveLength(3);
    for (const s of flags) {
      expect(s.method).toBe("POST");
      expect(s.headers["x-kannon-test"]).toBe("yes");
      expect(s.headers["content-type"]).toBe("application/json");
      expect(s.body.toString()).toBe('{"a":1}');
    }
    const bytes = join(dir, "body.bin");
    await writeFile(bytes, Buffer.from([0, 1, 254, 255, 10]));
    const file = await kannon(["run", "--drivers", "1", "-c", "1", "-n", "2", "-m", "put", "--url", `${target}/file`, "--body-file", bytes]);
    expect(file.code, file.out).toBe(0);
    const put = seen.filter((s) => s.url === "/file");
    expect(put.map((s) => [s.method, [...s.body]])).toEqual([
      ["PUT", [0, 1, 254, 255, 10]],
      ["PUT", [0, 1, 254, 255, 10]],
    ]);
    const spec = join(dir, "text-body.yaml");
    await writeFile(spec, `targetUrl: ${target}/spec\nmethod: POST\nbody: '{"a":1}'\navalanche: {concurrency: 1, requestsPerDriver: 2}\n`);
    const fromFile = await kannon(["run", "--drivers", "1", "-f", spec]);
    expect(fromFile.code, fromFile.out).toBe(0);
    expect(seen.filter((s) => s.url === "/spec").map((s) => s.body.toString())).toEqual(['{"a":1}', '{"a":1}']);
  });

  it("durations with units and short flags drive a real run; the terminal names the test, states duration and settings, labels a partial interval, shows – for an empty one, gets plurals right and shows no skew for one driver", { timeout: 120_000 }, async () => {
    // 2 req/s with 200 ms intervals: a request every 500 ms leaves at least one interval empty.
    const open = await kannon(["run", "--drivers", "1", "-w", "arrival-rate", "-r", "2", "-d", "1500ms", "--interval", "200ms", "--name", "slow trickle"]);
    expect(open.code, open.out).toBe(0);
    expect(open.out).toMatch(/kannon: test [0-9a-f-]{36} "slow trickle" started: arrival-rate against http:/);
    expect(open.out).toMatch(/ interval \d+ \(\d+ ms\): 0 requests, – req\/s, p99 –, 0 errors/);
    expect(open.out).toMatch(/ interval \d+ \(\d+ ms\): 1 request, \d+ req\/s, p99 [\d.]+ ms, 0 errors/);
    expect(open.out).toMatch(/test [0-9a-f-]{36} "slow trickle": COMPLETED\n {2}3 requests in [\d.]+ s, 1 driver sharing 2 req\/s \(arrival rate against http:/);
    expect(open.out).not.toContain("fleet start skew");
    expect(open.out).toMatch(/driver-1: 3 requests, [\d.]+ req\/s, 0 errors, p50 [\d.]+ ms, p99 [\d.]+ ms(\n|$)/);
    // 40 requests on one connection end well inside a 1 s interval: one partial interval, no rate.
    const closed = await kannon(["run", "--drivers", "1", "-c", "1", "-n", "40", "--interval", "1s"]);
    expect(closed.code, closed.out).toBe(0);
    expect(closed.out).toMatch(/ interval 0 \(\d+ of 1000 ms, partial\): 40 requests, p99 [\d.]+ ms, 0 errors/);
    expect(closed.out).not.toMatch(/ interval 0 .* req\/s/);
    expect(closed.out).toMatch(/ {2}40 requests in [\d.]+ s, 1 driver × 1 connection \(avalanche against http:/);
    const three = await kannon(["run", "-c", "2", "-n", "10", "-w", "tsunami", "--delay", "5ms"]);
    expect(three.code, three.out).toBe(0);
    expect(three.out).toMatch(/ {2}30 requests in [\d.]+ s, 3 drivers × a request every 5 ms \(tsunami against/);
    expect(three.out).toMatch(/fleet start skew: [\d.]+ ms/);
  });

  it("--data keeps a run: after kannon run exits, kannon tests lists it and the printed kannon report command runs as written", { timeout: 120_000 }, async () => {
    const data = join(dir, "kept");
    const run = await kannon(["run", "--drivers", "1", "-n", "25", "-c", "1", "--name", "kept run", "--data", data]);
    expect(run.code, run.out).toBe(0);
    const id = /test ([0-9a-f-]{36}) "kept run": COMPLETED/.exec(run.out)![1]!;
    const hint = /export it with: (kannon report \S+ --data \S+) \(/.exec(run.out)![1]!;
    expect(hint).toBe(`kannon report ${id} --data ${data}`);
    const report = await kannon(hint.split(" ").slice(1));
    expect(report.code, report.out).toBe(0);
    const json = JSON.parse(report.out) as { testId: string; total: { requests: string; dropped: string } };
    expect(json.testId).toBe(id);
    expect(json.total.requests).toBe("25");
    expect(json.total.dropped).toBe("0");
    const csv = await kannon(["report", id, "--data", data, "--format", "csv"]);
    const [header, ...rows] = csv.out.trim().split("\n");
    const col = header!.split(",").indexOf("requests");
    expect(rows.reduce((s, row) => s + Number(row.split(",")[col]), 0)).toBe(25);
    const tests = await kannon(["tests", "--data", data]);
    expect(tests.code, tests.out).toBe(0);
    expect(tests.out).toMatch(new RegExp(`^ID +STATE +STARTED +DURATION +REQUESTS +ERRORS +NAME\\n${id} +COMPLETED +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z +[\\d.]+ s +25 +0 \\(0\\.0%\\) +kept run$`, "m"));
    const missing = await kannon(["report", "no-such-test", "--data", data]);
    expect(missing.code).toBe(2);
    expect(missing.out).toContain(`--data ${data} holds no test "no-such-test" (kannon tests --data ${data} lists them)`);
    const nowhere = await kannon(["tests", "--data", join(dir, "never")]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.out).toContain("no Kannon store there");
    // Without --data the store is temporary, and the run says so.
    expect((await kannon(["run", "--drivers", "1", "-n", "5", "-c", "1"])).out).toContain("the store of this run is temporary and goes at exit: --data DIR keeps it");
  });

  it("kannon report and kannon tests with no orchestrator answering say where they looked and what to do (not a bare ECONNREFUSED)", { timeout: 120_000 }, async () => {
    const api = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [["report", "some-id"], ["tests"]]) {
      const r = await kannon(args, { KANNON_API: api });
      expect(r.code, r.out).toBe(1);
      expect(r.out).toContain(`no orchestrator answers at ${api} (KANNON_API; ECONNREFUSED): start one (kannon orchestrator), give --api URL, or read a kept run with --data DIR`);
    }
    const flag = await kannon(["report", "some-id", "--api", api]);
    expect(flag.out).toContain(`no orchestrator answers at ${api} (--api; ECONNREFUSED)`);
  });

  it("--out: the full report with every field, zeros included (64-bit counts as strings), and each threshold's verdict", { timeout: 120_000 }, async () => {
    const file = join(dir, "out.json");
    const r = await kannon(["run", "--drivers", "1", "-c", "1", "-n", "20", "--threshold", "requests>=20", "--threshold", "p99<1us", "-o", file]);
    expect(r.code, r.out).toBe(99);
    const out = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown> & {
      total: Record<string, unknown>;
      drivers: Record<string, unknown>[];
      thresholds: Record<string, unknown>[];
    };
    expect(out.total).toMatchObject({ requests: "20", errors: "0", dropped: "0", late: "0", errorCounts: {} });
    expect(out).toMatchObject({ partial: false, message: "", thresholdsPassed: false });
    expect(out.drivers[0]).toMatchObject({ lateStart: false, finished: true, message: "" });
    expect(out.thresholds).toHaveLength(2);
    expect(out.thresholds[0]).toEqual({ threshold: "requests>=20", metric: "requests", op: ">=", limit: 20, measured: 20, unit: "count", pass: true, breachedDuringRun: false });
    expect(out.thresholds[1]).toMatchObject({ threshold: "p99<1us", metric: "p99", op: "<", limit: 1, unit: "us", pass: false });
    expect(out.thresholds[1]!.measured).toBeGreaterThan(1);
  });

  it("--stay prints the dashboard's URL, which serves the dashboard; kannon test, kannon tests and the hint kannon test prints use its API", { timeout: 180_000 }, async () => {
    const data = join(dir, "stay");
    const { proc, match } = await startKannon(["run", "--drivers", "1", "-n", "5", "-c", "1", "--stay", "--data", data], /staying up; the API is at \S+ and the dashboard at (http:\/\/\S+\/) /);
    try {
      const res = await fetch(match[1]!);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/<html/i);
      const api = match[1]!.replace(/\/$/, "");
      // Its store is its own while it runs: a second fleet on it is refused before it starts.
      const second = await kannon(["run", "--data", data]);
      expect(second.code, second.out).toBe(2);
      expect(second.out).toContain(`kannon run: --data ${data} is in use by kannon run (pid ${proc.child.pid}, since `);
      expect(second.out).not.toContain("orchestrator at");
      const test = await kannon(["test", "--api", api, "--url", `${target}/remote`, "-n", "4", "-c", "1", "--name", "remote one"]);
      expect(test.code, test.out).toBe(0);
      const id = /test ([0-9a-f-]{36}) "remote one": COMPLETED/.exec(test.out)![1]!;
      const hint = /export it with: (kannon report \S+ --api \S+) \(/.exec(test.out)![1]!;
      expect(hint).toBe(`kannon report ${id} --api ${api}`);
      const report = await kannon(hint.split(" ").slice(1));
      expect(report.code, report.out).toBe(0);
      expect((JSON.parse(report.out) as { total: { requests: string } }).total.requests).toBe("4");
      const tests = await kannon(["tests", "--api", api]);
      expect(tests.out).toMatch(new RegExp(`^${id} +COMPLETED .* 4 +0 \\(0\\.0%\\) +remote one$`, "m"));
      expect(tests.out).toMatch(/ 5 +0 \(0\.0%\) +kannon avalanche$/m);
    } finally {
      expect(await proc.stop("SIGINT")).toBe(0);
    }
  });
});
