import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { DataFormat } from "../gen/kannon/v1/scenario_pb.js";
import { DomainError } from "../orchestrator/errors.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";
import { grpcClient, spec } from "./helpers.js";
import { flowCases, type FlowFleet } from "./scenario-cases.js";

// Issue 20's "Done when" over the in-process bus: 3 drivers, the orchestrator and the target in this
// process (test/scenarios-kafka.test.ts runs the same cases over a real broker with driver processes).
describe("scenarios over the in-process bus, against the target's flow API", () => {
  let embedded: Embedded;
  let fleet: FlowFleet;

  beforeAll(async () => {
    embedded = await startEmbedded({ drivers: 3 });
    fleet = { client: grpcClient(embedded.server.url), targetUrl: embedded.target!.url, driverIds: embedded.drivers.map((d) => d.id) };
  });
  afterAll(() => embedded?.close());

  flowCases(() => fleet);

  it("data files over 200 MB are refused with resource_exhausted naming the limit, and nothing is stored", async () => {
    const before = (await fleet.client.listTests({})).tests.length;
    const content = "id\n" + "1\n".repeat(MAX_DATA_BYTES / 2);
    const tooBig = spec({
      targetUrl: `${fleet.targetUrl}/`,
      dataFiles: [{ name: "big", format: DataFormat.CSV, content }],
      scenarios: [{ name: "s", weight: 1, dataFile: "big", steps: [{ name: "get", url: "/items/{{row.id}}" }] }],
      workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } },
    });
    let thrown: unknown;
    try {
      embedded.orchestrator.createTest(tooBig);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect((thrown as DomainError).kind).toBe("resource_exhausted");
    expect((thrown as DomainError).message).toContain("spec.data_files");
    expect((thrown as DomainError).message).toContain(String(MAX_DATA_BYTES));
    expect((await fleet.client.listTests({})).tests.length).toBe(before);
  });
});
