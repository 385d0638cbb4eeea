import { usageMessage } from "../test/usage-message.js";
import { describe, expect, it } from "vitest";
import { closest, durationFlag, intFlag, parseFlags } from "./args.js";
import { commandHelp } from "./help.js";
import { runCommand, testCommand } from "./run-commands.js";
import { specFlags } from "./spec-args.js";

const parse = (argv: string[]) => parseFlags(argv, specFlags, "run").values;

describe("the flag parser", () => {
  it("reads long flags, --flag=value, short letters (-c 10, -c10, -c=10), repeated -H, and the older -ms spellings under the new names", () => {
    expect(parse(["--concurrency", "7", "--url=http://127.0.0.1:1/x"])).toEqual({ concurrency: "7", url: "http://127.0.0.1:1/x" });
    expect(parse(["-c", "10", "-d", "2s", "-r", "50", "-n", "9", "-m", "put", "-w", "tsunami"])).toEqual({
      concurrency: "10",
      duration: "2s",
      rate: "50",
      requests: "9",
      method: "put",
      workload: "tsunami",
    });
    expect(parse(["-c10"])).toEqual({ concurrency: "10" });
    expect(parse(["-c=10"])).toEqual({ concurrency: "10" });
    expect(parse(["-H", "a: 1", "--header", "b: 2", "-H", "c:3"]).header).toEqual(["a: 1", "b: 2", "c:3"]);
    expect(parse(["--duration-ms", "1500", "--delay-ms", "5", "--interval-ms", "250", "--timeout-ms", "900"])).toEqual({ duration: "1500", delay: "5", interval: "250", timeout: "900" });
    expect(parseFlags(["x", "--", "--y"], { a: { type: "boolean", help: "" } }, "t", { positionals: 3 }).positionals).toEqual(["x", "--y"]);
  });

  it("suggests the closest flag (or command) on a typo, and names an unknown one otherwise", () => {
    expect(usageMessage(() => parse(["--concurency", "5"]))).toBe("unknown flag --concurency: did you mean --concurrency? (kannon run --help lists its flags)");
    expect(usageMessage(() => parse(["--duraton", "5s"]))).toContain("did you mean --duration?");
    expect(usageMessage(() => parse(["--headers", "a: 1"]))).toContain("did you mean --header?");
    expect(usageMessage(() => parse(["--xyzzy"]))).toBe("unknown flag --xyzzy (kannon run --help lists its flags)");
    expect(usageMessage(() => parse(["-q"]))).toBe("unknown flag -q (kannon run --help lists its flags)");
    expect(closest("rn", ["run", "test", "report", "tests"])).toBe("run");
    expect(closest("tset", ["run", "test", "report", "tests"])).toBe("test");
    expect(closest("orchestra", ["run", "orchestrator"])).toBe("orchestrator");
    expect(closest("zzzzzz", ["run", "test"])).toBeUndefined();
  });

  it("takes a negative number as the flag's value, so that the flag's own check says what is wrong (not node's 'ambiguous argument')", () => {
    const values = parse(["--concurrency", "-5", "-d", "-2s"]);
    expect(values).toEqual({ concurrency: "-5", duration: "-2s" });
    expect(usageMessage(() => intFlag(values, "concurrency", 10))).toBe('--concurrency must be a whole number ≥ 0, got "-5" (a negative number)');
    expect(usageMessage(() => durationFlag(values, "duration", 0))).toContain('got "-2s" (a negative duration)');
    expect(usageMessage(() => parse(["-5"]))).toBe("-5 follows no flag that takes a value (kannon run --help lists its flags)");
  });

  it("says what is missing: a value, or that a boolean takes none, or an argument nobody asked for", () => {
    expect(usageMessage(() => parse(["--url"]))).toBe("--url needs a value (URL)");
    expect(usageMessage(() => parse(["-c", "--url", "x"]))).toBe("-c needs a value (N)");
    expect(usageMessage(() => parseFlags(["--stay=yes"], { stay: { type: "boolean", help: "" } }, "run"))).toBe('--stay takes no value, got "yes"');
    expect(usageMessage(() => parse(["extra"]))).toBe('unexpected argument "extra" (kannon run --help lists its flags)');
  });

  it("reads durations with units; a plain number is milliseconds, as the older -ms flags were", () => {
    const d = (v: string) => durationFlag({ duration: v }, "duration", -1);
    expect([d("10s"), d("500ms"), d("2m"), d("1h"), d("1.5s"), d("250"), d("0"), d("1500us")]).toEqual([10_000, 500, 120_000, 3_600_000, 1500, 250, 0, 2]);
    expect(durationFlag({}, "duration", 42)).toBe(42);
    for (const bad of ["10x", "s", "1e3", "ten seconds", "", "0.1us"])
      expect(usageMessage(() => d(bad))).toBe(`--duration must be a duration such as 10s, 500ms, 2m or 1h (a plain number is milliseconds), got "${bad}"`);
  });
});

describe("a command's help", () => {
  it("kannon run --help lists every flag with its short letter and its real defaults (5000 requests per driver, 3 drivers)", () => {
    const help = commandHelp(runCommand);
    expect(help).toMatch(/^usage: kannon run \[flags\]/);
    for (const [short, long] of [["c", "concurrency"], ["d", "duration"], ["r", "rate"], ["H", "header"], ["f", "file"], ["n", "requests"], ["o", "out"]])
      expect(help).toMatch(new RegExp(`^  -${short}, --${long} `, "m"));
    expect(help).toMatch(/--requests N +requests per driver \(avalanche, tsunami\) \(default: 5000\)/);
    expect(help).toMatch(/--drivers N +drivers that share the load \(default: 3\)/);
    expect(help).toContain("--data DIR");
    expect(help).not.toContain("duration-ms");
    expect(commandHelp(testCommand)).toMatch(/--drivers N +drivers that share the load \(default: every ready driver\)/);
  });
});
