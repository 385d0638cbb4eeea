import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DataFileSchema } from "../gen/kannon/v1/scenario_pb.js";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { rerunBlocker } from "./format.js";

describe("rerunBlocker", () => {
  it("lets a spec without data files run again", () => {
    expect(rerunBlocker(create(TestSpecSchema, { targetUrl: "http://127.0.0.1:1/" }))).toBeUndefined();
  });
  it("names the data files whose content the orchestrator did not keep", () => {
    const spec = create(TestSpecSchema, { dataFiles: [create(DataFileSchema, { name: "users" }), create(DataFileSchema, { name: "items" })] });
    expect(rerunBlocker(spec)).toBe("its data files (users, items) are not kept after a test: run its spec file again (kannon test -f FILE)");
  });
  it("says so when there is no spec", () => {
    expect(rerunBlocker(undefined)).toBe("the test has no spec");
  });
});
