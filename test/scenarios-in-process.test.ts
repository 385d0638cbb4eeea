import { afterAll, beforeAll, describe } from "vitest";
import { startEmbedded, type Embedded } from "../cli/embedded.js";
import { grpcClient } from "./helpers.js";
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
});
