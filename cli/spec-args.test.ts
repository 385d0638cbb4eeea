import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usageMessage } from "../test/usage-message.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpVersion } from "../gen/kannon/v1/protocol_pb.js";
import { checkUrl, specFromFlags, type SpecValues } from "./spec-args.js";
import { readSpecFile } from "./spec-file.js";

const DEFAULT = "http://127.0.0.1/";
const text = (b: Uint8Array) => new TextDecoder().decode(b);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kannon-spec-args-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a test from flags", () => {
  it("-H (repeatable) and --body make the request; a body without --method is a POST, as with curl -d", () => {
    const spec = specFromFlags({ header: ["content-type: application/json", "X-Trace:  a ", "x-trace: b"], body: '{"a":1}' }, DEFAULT);
    expect(spec.method).toBe("POST");
    expect(spec.headers).toEqual({ "content-type": "application/json", "X-Trace": "a, b" });
    expect(text(spec.body)).toBe('{"a":1}');
    expect(specFromFlags({ body: "x", method: "put" }, DEFAULT).method).toBe("PUT");
    expect(specFromFlags({}, DEFAULT).method).toBe("GET");
  });

  it("--body-file sends the file's bytes as they are; a missing file, both body flags, or -H without a colon are named", async () => {
    const file = join(dir, "body.bin");
    await writeFile(file, Buffer.from([0, 255, 10, 65]));
    expect([...specFromFlags({ "body-file": file }, DEFAULT).body]).toEqual([0, 255, 10, 65]);
    expect(usageMessage(() => specFromFlags({ "body-file": join(dir, "nope") }, DEFAULT))).toBe(`--body-file ${join(dir, "nope")}: cannot read it (ENOENT)`);
    expect(usageMessage(() => specFromFlags({ body: "a", "body-file": file }, DEFAULT))).toBe("give --body or --body-file, not both");
    expect(usageMessage(() => specFromFlags({ header: ["authorization Bearer x"] }, DEFAULT))).toBe(`-H "authorization Bearer x" is not NAME: VALUE (e.g. -H 'content-type: application/json')`);
  });

  it("durations with units become the spec's milliseconds: --duration, --delay, --interval, --timeout", () => {
    const spec = specFromFlags({ workload: "tsunami", duration: "2m", delay: "20ms", interval: "1s", timeout: "2.5s" }, DEFAULT);
    expect(spec.reportIntervalMs).toBe(1000);
    expect(spec.requestTimeoutMs).toBe(2500);
    expect(spec.workload.case === "tsunami" && spec.workload.value).toMatchObject({ delayMs: 20, limit: { case: "durationMs", value: 120_000 } });
    const plain = specFromFlags({ duration: "1500" }, DEFAULT);
    expect(plain.workload.case === "avalanche" && plain.workload.value.limit).toEqual({ case: "durationMs", value: 1500 });
    expect(usageMessage(() => specFromFlags({ requests: "10", duration: "1s" }, DEFAULT))).toBe("give --requests or --duration, not both");
    const dflt = specFromFlags({}, DEFAULT);
    expect(dflt.workload.case === "avalanche" && dflt.workload.value.limit).toEqual({ case: "requestsPerDriver", value: 5000n });
  });

  it("checks the spec before anything starts and says each problem in the flags' words, not the spec's fields", () => {
    const msg = usageMessage(() => specFromFlags({ concurrency: "0", interval: "50ms", pipelining: "300", header: ["connection: close"], method: "BREW" } as SpecValues, DEFAULT));
    expect(msg).toContain("--concurrency must be at least 1");
    expect(msg).toContain("--interval must be at least 100");
    expect(msg).toContain("--pipelining must be at most 256");
    expect(msg).toContain('-H connection is set by the HTTP client itself');
    expect(msg).toContain('--method must be one of GET');
    expect(msg).not.toContain("spec.");
    expect(usageMessage(() => specFromFlags({ workload: "tsunami", delay: "0" }, DEFAULT))).toBe("--delay must be at least 1");
    expect(usageMessage(() => specFromFlags({ workload: "arrival-rate", requests: "5" }, DEFAULT))).toContain("--requests does not apply to arrival-rate");
  });

  it("a --url without its scheme is refused with the fix suggested", () => {
    expect(usageMessage(() => checkUrl("127.0.0.1:35843/ping"))).toBe('--url "127.0.0.1:35843/ping" has no http:// or https:// in front: did you mean http://127.0.0.1:35843/ping?');
    expect(usageMessage(() => checkUrl("localhost:35843"))).toBe('--url "localhost:35843" has no http:// or https:// in front: did you mean http://localhost:35843/?');
    expect(usageMessage(() => checkUrl("ftp://example.test/x"))).toBe('--url "ftp://example.test/x" uses ftp; Kannon sends HTTP: did you mean http://example.test/x?');
    expect(usageMessage(() => checkUrl("http://[::1"))).toBe('--url "http://[::1" is not a URL (expected http://HOST[:PORT]/PATH)');
    expect(() => checkUrl("https://127.0.0.1:8443/a?b=c")).not.toThrow();
    expect(usageMessage(() => specFromFlags({ url: "localhost:35843" }, DEFAULT))).toContain("did you mean http://localhost:35843/?");
  });
});

describe("a spec file's target URL", () => {
  it("without its scheme is a problem of spec.target_url with the fix; other problems are still listed", async () => {
    const path = join(dir, "url.yaml");
    await writeFile(path, "targetUrl: localhost:35843\n");
    expect(usageMessage(() => readSpecFile(path, DEFAULT))).toBe(
      `-f ${path}: 2 problems: spec.target_url "localhost:35843" has no http:// or https:// in front: did you mean http://localhost:35843/?; spec.workload is required: set avalanche, tsunami or arrival_rate`,
    );
  });
});

describe("a request body in a spec file", () => {
  const file = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `avalanche: {concurrency: 1, requestsPerDriver: 1}\nmethod: POST\n${body}`);
    return path;
  };

  it("is text as written: body: '{\"a\":1}' is sent as those bytes (it was read as base64 and refused)", async () => {
    const spec = readSpecFile(await file("text.yaml", `body: '{"a":1}'\n`), DEFAULT).spec;
    expect(text(spec.body)).toBe('{"a":1}');
    expect(spec.headers).toEqual({});
  });

  it("a mapping is sent as its JSON with content-type application/json, unless a header sets the type", async () => {
    const spec = readSpecFile(await file("map.yaml", "body:\n  a: 1\n  b: [x, y]\n"), DEFAULT).spec;
    expect(JSON.parse(text(spec.body))).toEqual({ a: 1, b: ["x", "y"] });
    expect(spec.headers).toEqual({ "content-type": "application/json" });
    const typed = readSpecFile(await file("typed.yaml", "headers: {Content-Type: application/vnd.x+json}\nbody: {a: 1}\n"), DEFAULT).spec;
    expect(typed.headers).toEqual({ "Content-Type": "application/vnd.x+json" });
  });

  it("bytes that are not text go in bodyBase64; both, or bad base64, are problems named by field", async () => {
    expect([...readSpecFile(await file("b64.yaml", "bodyBase64: AP8KQQ==\n"), DEFAULT).spec.body]).toEqual([0, 255, 10, 65]);
    const both = await file("both.yaml", "body: x\nbodyBase64: eA==\n");
    expect(usageMessage(() => readSpecFile(both, DEFAULT))).toContain("spec.body and bodyBase64 are both given: keep one");
    const bad = await file("bad.yaml", "bodyBase64: '{not base64}'\n");
    expect(usageMessage(() => readSpecFile(bad, DEFAULT))).toContain("spec.bodyBase64 must be base64 text (for a text body, write body: '...')");
  });
});

describe("HTTP/2 options", () => {
  it("--http2 --connections 4 --streams 32: version 2, h2load's -c and -m, and the concurrency fills every stream unless given", () => {
    const spec = specFromFlags({ http2: true, connections: "4", streams: "32" }, DEFAULT);
    expect(spec.http).toMatchObject({ version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 32, connections: 4 });
    expect(spec.workload.case === "avalanche" && spec.workload.value.concurrency).toBe(128);
    const given = specFromFlags({ http2: true, connections: "2", streams: "10", concurrency: "15" }, DEFAULT);
    expect(given.workload.case === "avalanche" && given.workload.value.concurrency).toBe(15);
    expect(specFromFlags({ http2: true }, DEFAULT).http).toMatchObject({ version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 0, connections: 0 });
    expect(specFromFlags({}, DEFAULT).http).toBeUndefined();
  });

  it("refuses HTTP/2 options without --http2, and out-of-range or inconsistent values, in the flags' words", () => {
    expect(usageMessage(() => specFromFlags({ streams: "10" }, DEFAULT))).toBe("--streams applies to HTTP/2 only: add --http2");
    expect(usageMessage(() => specFromFlags({ connections: "2" }, DEFAULT))).toBe("--connections applies to HTTP/2 only: add --http2");
    const msg = usageMessage(() => specFromFlags({ http2: true, streams: "1001", connections: "10001", concurrency: "10000" }, DEFAULT));
    expect(msg).toContain("--streams must be from 1 to 1000 streams per connection (0 means 100), got 1001");
    expect(msg).toContain("--connections must be at most 10000 connections per driver, got 10001");
    expect(usageMessage(() => specFromFlags({ http2: true, connections: "2", streams: "4", concurrency: "9" }, DEFAULT))).toBe(
      "--concurrency 9 is more than 2 connections × 4 streams can carry: raise http.connections or http.streams_per_connection",
    );
    expect(usageMessage(() => specFromFlags({ http2: true, connections: "20", concurrency: "10" }, DEFAULT))).toBe(
      "--connections 20 is more than the avalanche's concurrency 10: a connection would carry no request",
    );
    expect(usageMessage(() => specFromFlags({ http2: true, pipelining: "4" }, DEFAULT))).toContain("--pipelining is HTTP/1.1 only: HTTP/2 multiplexes requests as streams");
  });

  it("a spec file's http section: version 2 (or h2, HTTP/2), streams, connections; problems named by field", async () => {
    const path = join(dir, "h2.yaml");
    await writeFile(path, "avalanche: {concurrency: 8, requestsPerDriver: 10}\nhttp: {version: 2, streams: 4, connections: 2}\n");
    expect(readSpecFile(path, DEFAULT).spec.http).toMatchObject({ version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 4, connections: 2 });
    await writeFile(path, "avalanche: {concurrency: 8, requestsPerDriver: 10}\nhttp: {version: HTTP/2, streamsPerConnection: 8}\n");
    expect(readSpecFile(path, DEFAULT).spec.http).toMatchObject({ version: HttpVersion.HTTP_VERSION_2, streamsPerConnection: 8, connections: 0 });
    await writeFile(path, "avalanche: {concurrency: 8, requestsPerDriver: 10}\nhttp: {version: 3, stream: 4, connections: -1}\n");
    const msg = usageMessage(() => readSpecFile(path, DEFAULT));
    expect(msg).toContain("spec.http.version must be 2 (HTTP/2) or 1.1 (HTTP/1.1), got 3");
    expect(msg).toContain("spec.http.stream is not an http option (version, streams, connections, tls)");
    expect(msg).toContain("spec.http.connections must be a whole number ≥ 0, got -1");
    await writeFile(path, "avalanche: {concurrency: 8, requestsPerDriver: 10}\nhttp: {streams: 4}\n");
    expect(usageMessage(() => readSpecFile(path, DEFAULT))).toContain(
      "spec.http.streams_per_connection applies to HTTP/2 only: set http.version to HTTP_VERSION_2 (--http2), or leave it out",
    );
  });
});
