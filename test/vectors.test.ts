import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { decodeFromCompressedBase64 } from "hdr-histogram-js";
import { describe, expect, inject, it } from "vitest";
import { file_kannon_v1_bus } from "../gen/kannon/v1/bus_pb.js";
import { Counts, decodeCounts } from "../metrics/counts.js";
import { MANIFEST, pairsOf, PERCENTILES, renderVectors, summaryOf, VECTORS_DIR, type HistogramExpectation, type Manifest } from "../scripts/test-vectors.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const manifest = JSON.parse(readFileSync(join(VECTORS_DIR, MANIFEST), "utf8")) as Manifest;
const registry = createRegistry(file_kannon_v1_bus);
const read = (file: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, file)));

function schemaOf(typeName: string): DescMessage {
  const schema = registry.getMessage(typeName);
  if (!schema) throw new Error(`vectors.json names ${typeName}, which is not a kannon.v1 data-plane message`);
  return schema;
}

/**
 * The bucket a value falls in, by the HdrHistogram layout's arithmetic, written here without
 * hdr-histogram-js so that the manifest (which the generator reads from hdr-histogram-js) is checked
 * against numbers it did not compute. Lowest discernible value 1 and 3 significant digits give 2048
 * sub-buckets: values below 2048 are exact, and each power of two above doubles the bucket width.
 */
function bucketOf(v: number): { lowest: number; highest: number } {
  let width = 1;
  while (v >= 2048 * width) width *= 2;
  const lowest = Math.floor(v / width) * width;
  return { lowest, highest: lowest + width - 1 };
}

/** hdr-histogram-js's rank for a percentile (see vectors.json's percentileRule). */
function jsRank(p: number, count: number): number {
  const fp = (p / 100) * count;
  // ceil(fp - ulp(fp)): one ulp below, so that fp math a hair above an integer does not skip a rank.
  const ulp = fp === 0 ? 0 : 2 ** (Math.floor(Math.log2(fp)) - 52);
  return Math.max(1, Math.ceil(fp - ulp));
}

describe("shared data-plane vectors (proto/testdata)", () => {
  it("regenerating them (npm run vectors) gives exactly the committed files", () => {
    const rendered = renderVectors();
    for (const [file, bytes] of rendered) expect(Buffer.compare(read(file), bytes), `proto/testdata/${file} is stale: run npm run vectors`).toBe(0);
    const onDisk = readdirSync(VECTORS_DIR).filter((f) => f.endsWith(".binpb"));
    expect(onDisk.sort()).toEqual([...rendered.keys()].filter((f) => f.endsWith(".binpb")).sort());
  });

  it("cover every data-plane message type and the interesting cases", () => {
    const types = new Set(manifest.vectors.map((v) => v.type));
    for (const t of ["RegisterMessage", "HeartbeatMessage", "TestConfigMessage", "TriggerMessage", "MetricsMessage"]) expect(types).toContain(`kannon.v1.${t}`);
    expect(manifest.vectors.length).toBeGreaterThanOrEqual(20);
  });

  for (const v of manifest.vectors) {
    it(`${v.name} (${v.type}): decodes, re-encodes byte for byte, and matches its JSON`, () => {
      const schema = schemaOf(v.type);
      const bytes = read(v.binary);
      const json = JSON.parse(readFileSync(join(VECTORS_DIR, v.json), "utf8")) as JsonValue;
      const message = fromBinary(schema, bytes);
      expect(Buffer.from(toBinary(schema, message)).equals(Buffer.from(bytes))).toBe(true);
      expect(toJson(schema, message)).toEqual(json);
      // And from the JSON side: the same message, the same bytes.
      expect(Buffer.from(toBinary(schema, fromJson(schema, json))).equals(Buffer.from(bytes))).toBe(true);
    });
  }

  it("the test's bucket arithmetic gives the buckets worked out by hand", () => {
    // 2047 is the last exact value; from 2048 buckets are 2 wide, from 4096 4 wide; 10^6 is in
    // the 512-wide buckets (2048 * 512 > 10^6 >= 2048 * 256): 1953 * 512 = 999,936.
    expect([1, 2047, 2048, 4095, 4096, 1_000_000, 3_600_000_000].map(bucketOf)).toEqual([
      { lowest: 1, highest: 1 },
      { lowest: 2047, highest: 2047 },
      { lowest: 2048, highest: 2049 },
      { lowest: 4094, highest: 4095 },
      { lowest: 4096, highest: 4099 },
      { lowest: 999_936, highest: 1_000_447 },
      { lowest: 1716 * 2 ** 21, highest: 1717 * 2 ** 21 - 1 },
    ]);
  });

  const withHistograms = manifest.vectors.filter((v) => v.histograms);
  for (const v of withHistograms) {
    it(`${v.name}: its histograms' count, min, max and percentiles are what the raw samples give, and what the orchestrator decodes`, () => {
      const message = fromBinary(schemaOf(v.type), read(v.binary)) as unknown as Record<string, unknown>;
      for (const [field, expected] of Object.entries(v.histograms!)) {
        const bytes = message[field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())] as Uint8Array;
        expect(bytes.length, field).toBeGreaterThan(0);
        // From the raw values the histogram was made of, by the percentileRule and this file's
        // bucket arithmetic: the bucket of the value at each rank (Python checks the same manifest
        // with the hdrhistogram package in "pass in Python too").
        const pairs = pairsOf(v.histogramSpecs![field]!)
          .filter(([, c]) => c > 0)
          .sort((a, b) => a[0] - b[0]);
        const total = pairs.reduce((s, [, c]) => s + c, 0);
        expect(expected.count, field).toBe(total);
        if (total === 0) {
          expect(expected, field).toEqual({ count: 0, min: 0, max: 0, percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), 0])) });
          continue;
        }
        const valueAtRank = (rank: number) => {
          let seen = 0;
          for (const [value, c] of pairs) if ((seen += c) >= rank) return value;
          throw new Error("rank beyond the count");
        };
        for (const p of PERCENTILES) expect(expected.percentiles[String(p)], `${field} p${p}`).toBe(bucketOf(valueAtRank(jsRank(p, total))).highest);
        expect(expected.min, field).toBe(bucketOf(pairs[0]![0]).lowest);
        expect(expected.max, field).toBe(bucketOf(pairs.at(-1)![0]).highest);
        // The orchestrator's own decoder (counts by bucket), summarised as it does.
        const counts = new Counts();
        counts.addSparse(decodeCounts(bytes));
        expect(summaryOf(counts.toHistogram()), field).toEqual(expected);
      }
    });
  }

  it("enough vectors carry histograms", () => expect(withHistograms.length).toBeGreaterThanOrEqual(8));

  describe("histograms encoded by Python (py-histogram-*.hdr)", () => {
    const py = JSON.parse(readFileSync(join(VECTORS_DIR, "py-histograms.json"), "utf8")) as {
      histograms: Array<HistogramExpectation & { file: string; description: string }>;
    };

    it("are all there", () => {
      expect(py.histograms.map((h) => h.file).sort()).toEqual(readdirSync(VECTORS_DIR).filter((f) => f.startsWith("py-histogram-") && f.endsWith(".hdr")).sort());
      expect(py.histograms.length).toBeGreaterThanOrEqual(4);
    });

    for (const entry of py.histograms) {
      it(`${entry.file} (${entry.description}) decodes to the count, min, max and percentiles Python read`, () => {
        const bytes = read(entry.file);
        const { file: _file, description: _description, ...expected } = entry;
        expect(summaryOf(decodeFromCompressedBase64(Buffer.from(bytes).toString("base64"), 64, false))).toEqual(expected);
        const counts = new Counts();
        counts.addSparse(decodeCounts(bytes));
        expect(summaryOf(counts.toHistogram())).toEqual(expected);
      });
    }
  });

  // Both protobuf backends of Python: upb (the default) and the pure-Python one (see the test's docstring).
  for (const backend of ["upb", "python"] as const) {
    it(`pass in Python too (python/tests/test_vectors.py, ${backend} backend)`, async () => {
      const python = inject("python");
      const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
      if (backend === "python") env.PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION = "python";
      else delete env.PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION;
      const result = await run(python, ["-m", "unittest", "discover", "-v", "-s", "python/tests", "-p", "test_vectors.py"], { cwd: root, env }).catch(
        (err: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""}\n(exit ${err.code})` }),
      );
      // unittest reports on stderr: every test listed as ok, then "Ran N tests" and "OK".
      expect(result.stderr).toMatch(/\nOK\s*$/);
      const ran = /Ran (\d+) tests?/.exec(result.stderr);
      expect(Number(ran?.[1] ?? 0)).toBeGreaterThanOrEqual(6);
      expect(result.stderr).toContain("test_reencode_byte_for_byte (test_vectors.VectorTest.test_reencode_byte_for_byte) ... ok");
      // The manifest read by another library: every histogram decoded by HdrHistogram_py.
      expect(result.stderr).toContain("test_histograms_decode_to_the_manifest_percentiles (test_vectors.VectorTest.test_histograms_decode_to_the_manifest_percentiles) ... ok");
    });
  }

  it("proto/testdata/scenarios.json passes in Python too (python/tests/test_scenario_vectors.py: weighted picks, templates, JSONPath, checks, captures; and test_scenario_engine.py, test_scenario_protocol_refusal.py)", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
    const result = await run(inject("python"), ["-m", "unittest", "discover", "-v", "-s", "python/tests", "-p", "test_scenario_*.py"], { cwd: root, env }).catch(
      (err: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""}\n(exit ${err.code})` }),
    );
    expect(result.stderr).toMatch(/\nOK\s*$/);
    for (const name of ["test_weighted_sequences", "test_templates", "test_json_path", "test_checks", "test_captures"])
      expect(result.stderr).toMatch(new RegExp(`${name} \\(test_scenario_vectors\\.ScenarioVectors\\.${name}\\) \\.\\.\\. ok`));
    expect(result.stderr).toMatch(/test_steps_checks_captures_and_rows_as_the_server_saw_them \(test_scenario_engine\.Iterations\.\S+\) \.\.\. ok/);
    // RPC, HTTP/2 and TLS tests refused by field (python/tests/test_scenario_protocol_refusal.py).
    expect(result.stderr).toMatch(/test_every_unsupported_field_is_named_at_once \(test_scenario_protocol_refusal\.ProtocolRefusal\.\S+\) \.\.\. ok/);
  });
});
