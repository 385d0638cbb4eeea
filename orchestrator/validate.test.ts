import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TestSpecSchema } from "../gen/kannon/v1/test_pb.js";
import { DataFormat } from "../gen/kannon/v1/scenario_pb.js";
import { MAX_DATA_BYTES } from "../scenario/data.js";
import { checkSpec, describeProblems, MAX_SCENARIOS_BYTES, MAX_STEPS, MIN_REPORT_INTERVAL_MS, validateSpec, type FieldProblem } from "./validate.js";

type SpecInit = MessageInitShape<typeof TestSpecSchema>;

const URL_OK = "http://127.0.0.1:8080/ping";

function spec(init: SpecInit) {
  return create(TestSpecSchema, init);
}

/** A valid avalanche spec with `init` laid over it. */
const avalanche = (init: SpecInit = {}) => {
  const base: SpecInit = {
    targetUrl: URL_OK,
    workload: { case: "avalanche", value: { concurrency: 8, limit: { case: "durationMs", value: 2000 } } },
  };
  return spec({ ...base, ...init } as SpecInit);
};

const fields = (problems: FieldProblem[]) => problems.map((p) => p.field);

describe("validateSpec: valid specs", () => {
  it("accepts an avalanche spec (duration or request count)", () => {
    expect(validateSpec(avalanche())).toEqual([]);
    expect(
      validateSpec(
        spec({
          targetUrl: "https://example.test/a?b=c",
          method: "post",
          headers: { "X-Trace-Id": "1", "content-type": "application/json" },
          body: new TextEncoder().encode("{}"),
          reportIntervalMs: MIN_REPORT_INTERVAL_MS,
          workload: { case: "avalanche", value: { concurrency: 10_000, limit: { case: "requestsPerDriver", value: 1n } } },
        }),
      ),
    ).toEqual([]);
  });

  it("accepts a tsunami spec", () => {
    expect(
      validateSpec(
        spec({
          targetUrl: URL_OK,
          reportIntervalMs: 1000,
          workload: { case: "tsunami", value: { delayMs: 5, maxInFlight: 0, limit: { case: "requestsPerDriver", value: 100n } } },
        }),
      ),
    ).toEqual([]);
  });

  it("accepts arrival-rate specs: constant, stages only, constant then stages", () => {
    expect(
      validateSpec(spec({ targetUrl: URL_OK, workload: { case: "arrivalRate", value: { ratePerS: 300, durationMs: 5000 } } })),
    ).toEqual([]);
    expect(
      validateSpec(
        spec({
          targetUrl: URL_OK,
          workload: { case: "arrivalRate", value: { ratePerS: 0, durationMs: 0, stages: [{ targetRatePerS: 300, durationMs: 5000 }] } },
        }),
      ),
    ).toEqual([]);
    expect(
      validateSpec(
        spec({
          targetUrl: URL_OK,
          workload: {
            case: "arrivalRate",
            value: {
              ratePerS: 100,
              durationMs: 1000,
              stages: [
                { targetRatePerS: 300, durationMs: 1000 },
                { targetRatePerS: 0, durationMs: 1000 },
              ],
            },
          },
        }),
      ),
    ).toEqual([]);
  });

  it("report_interval_ms 0 means the default and is valid", () => {
    expect(validateSpec(avalanche({ reportIntervalMs: 0 }))).toEqual([]);
  });
});

describe("validateSpec: size limits keep a test_config under Kafka's 1 MB", () => {
  it("name, URL, header count, header size and total header size are bounded, each naming its field", () => {
    expect(fields(validateSpec(avalanche({ name: "n".repeat(257) })))).toEqual(["spec.name"]);
    expect(fields(validateSpec(avalanche({ targetUrl: `http://h/${"a".repeat(8200)}` })))).toEqual(["spec.target_url"]);
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`x-h${i}`, "v"]));
    expect(fields(validateSpec(avalanche({ headers: many })))).toEqual(["spec.headers"]);
    expect(fields(validateSpec(avalanche({ headers: { "x-big": "v".repeat(9000) } })))).toEqual(['spec.headers["x-big"]']);
    const heavy = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x-h${i}`, "v".repeat(8000)]));
    expect(fields(validateSpec(avalanche({ headers: heavy })))).toEqual(["spec.headers"]);
    // At every limit at once, the largest valid spec still encodes well under 1 MB.
    const largest = avalanche({
      name: "n".repeat(256),
      targetUrl: `http://h/${"a".repeat(8000)}`,
      headers: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x-h${i}`, "v".repeat(8000)])),
      body: new Uint8Array(512 * 1024),
    });
    expect(validateSpec(largest)).toEqual([]);
    expect(toBinary(TestSpecSchema, largest).byteLength).toBeLessThan(700 * 1024);
  });
});

describe("validateSpec: problems name their field", () => {
  it("a missing spec", () => {
    expect(fields(validateSpec(undefined))).toEqual(["spec"]);
  });

  it("missing target URL", () => {
    const p = validateSpec(avalanche({ targetUrl: "" }));
    expect(fields(p)).toEqual(["spec.target_url"]);
    expect(p[0]!.problem).toMatch(/required/);
  });

  it("a non-http scheme (ftp://)", () => {
    const p = validateSpec(avalanche({ targetUrl: "ftp://example.test/file" }));
    expect(fields(p)).toEqual(["spec.target_url"]);
    expect(p[0]!.problem).toMatch(/http or https/);
    expect(p[0]!.problem).toContain('"ftp"');
  });

  it("a string that is not a URL", () => {
    const p = validateSpec(avalanche({ targetUrl: "not a url" }));
    expect(fields(p)).toEqual(["spec.target_url"]);
    expect(p[0]!.problem).toContain("not a url");
  });

  it("a bad method and a bad header name", () => {
    const p = validateSpec(avalanche({ method: "FETCH", headers: { "bad header": "x" } }));
    expect(fields(p).sort()).toEqual(['spec.headers["bad header"]', "spec.method"]);
  });

  it("missing workload", () => {
    const p = validateSpec(spec({ targetUrl: URL_OK }));
    expect(fields(p)).toEqual(["spec.workload"]);
    expect(p[0]!.problem).toMatch(/avalanche, tsunami or arrival_rate/);
  });

  it("zero and too-large avalanche concurrency", () => {
    expect(
      fields(validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 0, limit: { case: "durationMs", value: 1 } } } }))),
    ).toEqual(["spec.avalanche.concurrency"]);
    expect(
      fields(
        validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 10_001, limit: { case: "durationMs", value: 1 } } } })),
      ),
    ).toEqual(["spec.avalanche.concurrency"]);
  });

  it("avalanche pipelining above 256", () => {
    const p = validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 10, pipelining: 257, limit: { case: "durationMs", value: 1 } } } }));
    expect(fields(p)).toEqual(["spec.avalanche.pipelining"]);
    expect(p[0]!.problem).toMatch(/at most 256/);
    expect(validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 10, pipelining: 256, limit: { case: "durationMs", value: 1 } } } }))).toEqual([]);
  });

  it("zero tsunami delay_ms", () => {
    const p = validateSpec(
      spec({ targetUrl: URL_OK, workload: { case: "tsunami", value: { delayMs: 0, limit: { case: "durationMs", value: 1000 } } } }),
    );
    expect(fields(p)).toEqual(["spec.tsunami.delay_ms"]);
  });

  it("zero duration, zero requests and a missing limit", () => {
    expect(
      fields(
        validateSpec(spec({ targetUrl: URL_OK, workload: { case: "tsunami", value: { delayMs: 10, limit: { case: "durationMs", value: 0 } } } })),
      ),
    ).toEqual(["spec.tsunami.duration_ms"]);
    expect(
      fields(
        validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 0n } } } })),
      ),
    ).toEqual(["spec.avalanche.requests_per_driver"]);
    expect(fields(validateSpec(avalanche({ workload: { case: "avalanche", value: { concurrency: 1 } } })))).toEqual([
      "spec.avalanche.limit",
    ]);
    expect(fields(validateSpec(spec({ targetUrl: URL_OK, workload: { case: "tsunami", value: { delayMs: 10 } } })))).toEqual([
      "spec.tsunami.limit",
    ]);
  });

  it("report interval under 100 ms", () => {
    const p = validateSpec(avalanche({ reportIntervalMs: 50 }));
    expect(fields(p)).toEqual(["spec.report_interval_ms"]);
    expect(p[0]!.problem).toContain("100");
    expect(p[0]!.problem).toContain("50");
    expect(validateSpec(avalanche({ reportIntervalMs: 99 }))).toHaveLength(1);
  });

  it("arrival rate without stages needs a duration and a positive rate", () => {
    const p = validateSpec(spec({ targetUrl: URL_OK, workload: { case: "arrivalRate", value: { ratePerS: 0, durationMs: 0 } } }));
    expect(fields(p).sort()).toEqual(["spec.arrival_rate.duration_ms", "spec.arrival_rate.rate_per_s"]);
  });

  it("bad stages: each is named by its index", () => {
    const p = validateSpec(
      spec({
        targetUrl: URL_OK,
        workload: {
          case: "arrivalRate",
          value: {
            ratePerS: 10,
            durationMs: 0,
            stages: [
              { targetRatePerS: 100, durationMs: 1000 },
              { targetRatePerS: -1, durationMs: 0 },
              { targetRatePerS: Number.POSITIVE_INFINITY, durationMs: 10 },
              { targetRatePerS: Number.NaN, durationMs: 10 },
            ],
          },
        },
      }),
    );
    expect(fields(p)).toEqual([
      "spec.arrival_rate.stages[1].target_rate_per_s",
      "spec.arrival_rate.stages[1].duration_ms",
      "spec.arrival_rate.stages[2].target_rate_per_s",
      "spec.arrival_rate.stages[3].target_rate_per_s",
    ]);
  });

  it("a negative or non-finite first rate", () => {
    for (const ratePerS of [-5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const p = validateSpec(
        spec({ targetUrl: URL_OK, workload: { case: "arrivalRate", value: { ratePerS, durationMs: 0, stages: [{ targetRatePerS: 1, durationMs: 1 }] } } }),
      );
      expect(fields(p), String(ratePerS)).toEqual(["spec.arrival_rate.rate_per_s"]);
    }
  });

  it("returns every problem at once, and describeProblems joins them naming each field", () => {
    const p = validateSpec(
      spec({
        targetUrl: "ftp://x",
        reportIntervalMs: 50,
        workload: { case: "avalanche", value: { concurrency: 0, limit: { case: "durationMs", value: 0 } } },
      }),
    );
    expect(fields(p)).toEqual([
      "spec.target_url",
      "spec.report_interval_ms",
      "spec.avalanche.concurrency",
      "spec.avalanche.duration_ms",
    ]);
    const text = describeProblems(p);
    for (const f of fields(p)) expect(text).toContain(f);
    expect(text.split("; ")).toHaveLength(4);
    expect(text.split("; ")[2]).toBe("spec.avalanche.concurrency must be at least 1");
    expect(describeProblems([])).toBe("");
  });
});

describe("validateSpec: values a driver could not send", () => {
  it("rejects header values with CR, LF or NUL, and absurd arrival rates", () => {
    const problems = validateSpec(
      create(TestSpecSchema, {
        targetUrl: "http://127.0.0.1:8080/",
        headers: { "x-ok": "fine", "x-bad": "a\r\nInjected: yes" },
        workload: { case: "arrivalRate", value: { ratePerS: 5e6, durationMs: 1000, stages: [{ targetRatePerS: 2e6, durationMs: 10 }] } },
      }),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'spec.headers["x-bad"]',
      "spec.arrival_rate.rate_per_s",
      "spec.arrival_rate.stages[0].target_rate_per_s",
    ]);
    expect(problems[0]!.problem).toContain("no CR, LF or other control characters");
  });

  it("rejects values undici refuses, headers the client owns, a huge body and timer-overflowing durations", () => {
    const problems = validateSpec(
      create(TestSpecSchema, {
        targetUrl: "http://127.0.0.1:8080/",
        headers: { "x-euro": "5 €", "x-ctl": "a\u0001b", "transfer-encoding": "chunked", host: "vhost.test", "x-latin": "café" },
        body: new Uint8Array(512 * 1024 + 1),
        reportIntervalMs: 3_000_000_000,
        startDelayMs: 4_000_000,
        workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "durationMs", value: 2 ** 31 } } },
      }),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'spec.headers["x-euro"]',
      'spec.headers["x-ctl"]',
      'spec.headers["transfer-encoding"]',
      "spec.body",
      "spec.report_interval_ms",
      "spec.start_delay_ms",
      "spec.avalanche.duration_ms",
    ]);
  });
});

describe("checkSpec: scenarios and data files", () => {
  const base = {
    targetUrl: "http://127.0.0.1:8080",
    workload: { case: "avalanche", value: { concurrency: 1, limit: { case: "requestsPerDriver", value: 1n } } },
  } as const;
  const flow = (init: Partial<SpecInit> = {}) =>
    spec({
      ...base,
      dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content: "user\nann\nbo\n" }],
      scenarios: [
        {
          name: "shop",
          weight: 1,
          dataFile: "users.csv",
          steps: [
            { name: "login", method: "POST", url: "/login", headers: { "content-type": "application/json" }, body: '{"user":"{{row.user}}"}' },
            { name: "item", url: "http://127.0.0.1:8080/items/{{randInt 1 9}}", checks: [{ name: "ok", kind: { case: "status", value: { codes: [200] } } }] },
          ],
        },
      ],
      ...init,
    } as SpecInit);

  it("accepts a valid scenario spec with a data file", () => {
    expect(checkSpec(flow())).toEqual({ problems: [], resourceExhausted: false });
  });

  it("returns every problem at once with its field path: the scenarios' own and what the HTTP clients need", () => {
    const r = checkSpec(
      spec({
        ...base,
        scenarios: [
          { name: "s", weight: 1, steps: [{ name: "a", url: "/x/{{nope}}", method: "FETCH" }, { name: "a", url: "//evil.test/x", headers: { "bad header": "v", connection: "close", "x-v": "a\r\nb" } }] },
        ],
      } as SpecInit),
    );
    expect(r.resourceExhausted).toBe(false);
    expect(fields(r.problems)).toEqual([
      "spec.scenarios[0].steps[0].url",
      "spec.scenarios[0].steps[1].name",
      "spec.scenarios[0].steps[0].method",
      "spec.scenarios[0].steps[1].url",
      'spec.scenarios[0].steps[1].headers["bad header"]',
      'spec.scenarios[0].steps[1].headers["connection"]',
      'spec.scenarios[0].steps[1].headers["x-v"]',
    ]);
    expect(r.problems[0]!.problem).toMatch(/unknown name "nope"/);
    expect(r.problems[3]!.problem).toMatch(/single "\/"/);
    // The refusal of issue 20's groundwork is gone.
    expect(describeProblems(r.problems)).not.toMatch(/not run by this version/);
  });

  it("a size limit is resource_exhausted and names the limit: too many steps, scenarios too large, data over 200 MB", () => {
    const step = (k: number) => ({ name: `s${k}`, url: "/a" });
    const many = checkSpec(spec({ ...base, scenarios: [{ name: "s", weight: 1, steps: Array.from({ length: MAX_STEPS + 1 }, (_, k) => step(k)) }] } as SpecInit));
    expect(many).toEqual({ resourceExhausted: true, problems: [{ field: "spec.scenarios", problem: `have ${MAX_STEPS + 1} steps in all, above the limit of ${MAX_STEPS} steps per test` }] });
    const body = "b".repeat(MAX_SCENARIOS_BYTES / 2);
    const large = checkSpec(spec({ ...base, scenarios: [{ name: "s", weight: 1, steps: [{ ...step(0), body }, { ...step(1), body }] }] } as SpecInit));
    expect(large.resourceExhausted).toBe(true);
    expect(fields(large.problems)).toEqual(["spec.scenarios"]);
    expect(large.problems[0]!.problem).toMatch(new RegExp(`above the limit of ${MAX_SCENARIOS_BYTES} bytes per test`));
    const half = "x".repeat(MAX_DATA_BYTES / 2 + 1);
    const data = checkSpec(flow({ dataFiles: [{ name: "users.csv", format: DataFormat.CSV, content: half }, { name: "b", format: DataFormat.CSV, content: half }] }));
    expect(data.resourceExhausted).toBe(true);
    expect(data.problems[0]).toEqual({ field: "spec.data_files", problem: `hold ${MAX_DATA_BYTES + 2} bytes, above the limit of 209715200 bytes (200 MB) per test` });
    // A problem that is no size limit stays invalid_argument, even beside a valid flow.
    expect(checkSpec(flow({ name: "n".repeat(300) })).resourceExhausted).toBe(false);
  });
});
