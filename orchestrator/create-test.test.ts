/**
 * CreateTest with scenarios (issue 20): a valid scenario spec is stored as it was sent; every
 * problem comes back at once, as invalid_argument, or as resource_exhausted when a size limit is
 * one of them; every step URL is held to the target allowlist.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBus } from "../bus/bus.js";
import { createMemoryTransport } from "../bus/memory.js";
import { DataFormat } from "../gen/kannon/v1/scenario_pb.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";
import { spec } from "../test/helpers.js";
import { TargetAllowlist } from "./allowlist.js";
import { DomainError } from "./errors.js";
import { Orchestrator } from "./orchestrator.js";

const workload = { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } } as const;
const flow = (url2 = "/items/{{randInt 1 9}}", content = "user\nann\n") =>
  spec({
    targetUrl: "http://127.0.0.1:9/",
    workload,
    dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content }],
    scenarios: [{ name: "shop", weight: 1, dataFile: "users.csv", steps: [{ name: "login", method: "POST", url: "/login", body: '{"u":"{{row.user}}"}' }, { name: "item", url: url2 }] }],
  });

function refusal(f: () => unknown): DomainError {
  try {
    f();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("CreateTest with scenarios", () => {
  let dir: string;
  let transport: ReturnType<typeof createMemoryTransport>;
  let o: Orchestrator | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kannon-create-"));
    transport = createMemoryTransport();
  });
  afterEach(async () => {
    await o?.close();
    o = undefined;
    await transport.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("stores a valid scenario spec; refuses bad ones with every problem, resource_exhausted for a size limit, nothing stored", async () => {
    o = await Orchestrator.open({ bus: createBus(transport), dataDir: dir, log: () => {} });
    const created = o.createTest(flow());
    expect(o.getTest(created.id).spec!.scenarios.map((s) => s.steps.map((st) => st.name))).toEqual([["login", "item"]]);

    const bad = refusal(() => o!.createTest(flow("/items/{{nope}}", "user\nann,extra\n")));
    expect(bad.kind).toBe("invalid_argument");
    expect(bad.message).toMatch(/spec\.data_files\[0\]\.content line 2: .*; spec\.scenarios\[0\]\.steps\[1\]\.url .*unknown name "nope"/);

    const big = refusal(() => o!.createTest(flow("/items/{{nope}}", "x".repeat(MAX_DATA_BYTES + 1))));
    expect(big.kind).toBe("resource_exhausted");
    expect(big.message).toContain(`above the limit of ${MAX_DATA_BYTES} bytes (200 MB) per test`);
    expect(o.listTests().items.map((t) => t.id)).toEqual([created.id]);
  });
});

describe("TargetAllowlist.refusesSpec", () => {
  const allow = new TargetAllowlist(["127.0.0.1:9"]);
  it("checks target_url and every absolute step URL, and refuses a step whose host is a template", () => {
    expect(allow.refusesSpec(flow())).toBeUndefined();
    expect(allow.refusesSpec(flow("http://127.0.0.1:9/items/{{randInt 1 9}}"))).toBeUndefined();
    expect(allow.refusesSpec(flow("http://127.0.0.1:10/x"))).toBe("spec.scenarios[0].steps[1].url http://127.0.0.1:10 is not an allowed target (allowed: 127.0.0.1:9)");
    expect(allow.refusesSpec(flow("http://{{row.user}}/x"))).toMatch(/^spec\.scenarios\[0\]\.steps\[1\]\.url takes its host from a template/);
    expect(allow.refusesSpec(flow("{{row.user}}"))).toMatch(/takes its host from a template/);
    expect(new TargetAllowlist([]).refusesSpec(flow("http://{{row.user}}/x"))).toBeUndefined();
  });
});
