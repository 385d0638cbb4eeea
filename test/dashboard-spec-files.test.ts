/**
 * The new-test page's spec editor with the files a spec names attached (web/attached-files.ts), in
 * real Chromium (playwright-core, the browser of test/chromium-global-setup.ts) against an embedded
 * fleet of 2 drivers: a data file path found among the attached files by its name (the test's rows
 * as the orchestrator stores them, and one request per row), nothing attached (a problem under each
 * path's line naming the file to attach), and a Buf image attached for an RPC test against the
 * project's Connect target.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowserPage, type BrowserPage } from "./browser-page.js";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { TestState } from "../gen/kannon/v1/test_pb.js";
import { targetImage } from "./rpc-images.js";
import { until } from "./helpers.js";

const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;

/** 5 rows, each used once over the fleet (exclusive split, stop when out): 5 requests in all, each naming its row. */
const DATA_SPEC = `name: attached rows
avalanche: { concurrency: 1, requestsPerDriver: 20 }
dataFiles:
  - path: ./data/users.csv
    onExhausted: stop
scenarios:
  - name: by-row
    dataFile: users
    steps:
      - name: search
        url: "/search?q={{row.name}}"
        headers: { x-row-id: "{{row.id}}" }
        checks: [{ name: ok, status: 200 }]
`;
const USERS = "id,name\n1,ann\n2,bob\n3,cy\n4,dee\n5,eve\n";

describe("spec editor with attached files (real Chromium)", () => {
  let fleet: Embedded;
  let ui: BrowserPage;
  beforeAll(async () => {
    fleet = await startEmbedded({ drivers: 2 });
    ui = await openBrowserPage({ width: 1100, height: 900 });
  }, 60_000);
  afterAll(async () => {
    await ui?.browser.close();
    await fleet?.close();
  });

  /** Fills the editor with `spec`, attaches `files` (none clears them) and creates and starts it. */
  async function submit(spec: string, files: { name: string; buffer: Buffer }[]): Promise<void> {
    await ui.page.goto(`${fleet.server.url}/#/new`);
    await ui.page.fill("#spec-text", spec);
    await ui.page.setInputFiles("#spec-attach", files.map((f) => ({ ...f, mimeType: "application/octet-stream" })));
    await ui.page.click("#spec-form button[value='1']");
  }

  /** The test the page opened, run to its end. */
  async function openedTest(): Promise<string> {
    await ui.page.waitForURL(/#\/test\//, { timeout: 10_000 });
    const id = new URL(ui.page.url()).hash.split("/")[2]!;
    await until(() => fleet.orchestrator.getTest(id).state === TestState.COMPLETED, 20_000, "the test's end");
    return id;
  }

  it("a data file path resolved to the attached file of its name: the test holds its rows and makes one request per row", async () => {
    await submit(DATA_SPEC, [{ name: "users.csv", buffer: Buffer.from(USERS) }]);
    const id = await openedTest();
    const files = fleet.orchestrator.getTest(id).spec!.dataFiles;
    expect(files.map((f) => [f.name, f.source, f.rows])).toEqual([["users", "./data/users.csv", 5n]]);
    const total = fleet.orchestrator.getReport(id).total!;
    expect(total.steps.map((s) => `${s.step} ${s.stats!.requests}`)).toEqual(["search 5"]);
    expect(Object.fromEntries(Object.entries(total.statusCounts).map(([k, v]) => [k, Number(v)]))).toEqual({ 200: 5 });
    // The target saw each row once, by the header the step sent from it.
    expect((await fleet.target!.counts()).byRow).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });
    expect(ui.errors).toEqual([]);
  }, 60_000);

  it("paths with nothing attached: a problem under each path's line naming the file to attach, nothing created", async () => {
    const spec = `${DATA_SPEC}http:\n  tls:\n    ca: certs/ca.pem\nschema: proto/target.proto\n`;
    const before = fleet.orchestrator.listTests().items.length;
    await submit(spec, []);
    const shown = ui.page.locator("#spec-problems .problem[data-line]");
    await shown.first().waitFor({ timeout: 10_000 });
    const problems = await shown.evaluateAll((els) => els.map((e) => [e.getAttribute("data-line"), e.textContent]));
    expect(problems).toEqual([
      [String(lineOf(spec, "path: ./data/users.csv")), '↑ spec.data_files[0].path names the data file "./data/users.csv": attach users.csv (attach files, beside the spec)'],
      [String(lineOf(spec, "ca: certs/ca.pem")), '↑ spec.http.tls.ca names the CA certificate (PEM) "certs/ca.pem": attach ca.pem (attach files, beside the spec)'],
      [String(lineOf(spec, "schema:")), expect.stringMatching(/^↑ spec\.rpc_schema \(schema\) "proto\/target\.proto" is \.proto source .*cannot compile: build a Buf image/)],
    ]);
    expect(ui.page.url()).toMatch(/#\/new$/);
    expect(fleet.orchestrator.listTests().items.length).toBe(before);
  }, 30_000);

  it("an RPC test with its Buf image attached: the schema travels with the test, every call answered ok", async () => {
    const spec = `name: attached schema
avalanche: { concurrency: 1, requestsPerDriver: 3 }
schema: ./gen/target.binpb
rpc: { call: kannon.target.v1.TargetService/Echo, request: { text: hi }, protocol: connect, codec: json }
`;
    await submit(spec, [{ name: "target.binpb", buffer: Buffer.from(targetImage()) }]);
    const id = await openedTest();
    const schema = fleet.orchestrator.getTest(id).spec!.rpcSchema!;
    expect(schema.origin).toBe("./gen/target.binpb");
    expect(Buffer.from(schema.image).equals(Buffer.from(targetImage()))).toBe(true);
    const total = fleet.orchestrator.getReport(id).total!;
    expect(Object.fromEntries(Object.entries(total.codeCounts).map(([k, v]) => [k, Number(v)]))).toEqual({ ok: 6 }); // 2 drivers × 3
    expect(ui.errors).toEqual([]);
  }, 60_000);
});
