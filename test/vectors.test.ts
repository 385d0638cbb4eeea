import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { decodeFromCompressedBase64, type Histogram } from "hdr-histogram-js";
import { describe, expect, inject, it } from "vitest";
import { file_kannon_v1_bus } from "../gen/kannon/v1/bus_pb.js";
import { Counts, decodeCounts } from "../metrics/counts.js";
import {
  expectationOf,
  kannonHistogram,
  MANIFEST,
  pairsOf,
  PERCENTILES,
  renderVectors,
  VECTORS_DIR,
  type HistogramExpectation,
  type Manifest,
} from "../scripts/test-vectors.js";

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

interface Internals {
  highestEquivalentValue(v: number): number;
  lowestEquivalentValue(v: number): number;
}

/** What a histogram reports, in the manifest's shape. */
function summary(h: Histogram): HistogramExpectation {
  const empty = h.totalCount === 0;
  return {
    count: h.totalCount,
    min: empty ? 0 : h.minNonZeroValue,
    max: empty ? 0 : h.maxValue,
    percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), h.getValueAtPercentile(p)])),
  };
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

  const withHistograms = manifest.vectors.filter((v) => v.histograms);
  for (const v of withHistograms) {
    it(`${v.name}: its histograms decode to the manifest's count, min, max and percentiles, which the raw samples confirm`, () => {
      const message = fromBinary(schemaOf(v.type), read(v.binary)) as unknown as Record<string, unknown>;
      for (const [field, expected] of Object.entries(v.histograms!)) {
        const bytes = message[field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())] as Uint8Array;
        expect(bytes.length, field).toBeGreaterThan(0);
        // hdr-histogram-js with 64-bit counts.
        expect(summary(decodeFromCompressedBase64(Buffer.from(bytes).toString("base64"), 64, false)), field).toEqual(expected);
        // The orchestrator's own decoder (counts by bucket), summarised as it does.
        const counts = new Counts();
        counts.addSparse(decodeCounts(bytes));
        expect(summary(counts.toHistogram()), field).toEqual(expected);

        // From the raw values the histogram was made of: the bucket of the value at each rank.
        const pairs = pairsOf(v.histogramSpecs![field]!)
          .filter(([, c]) => c > 0)
          .sort((a, b) => a[0] - b[0]);
        const total = pairs.reduce((s, [, c]) => s + c, 0);
        expect(expected.count, field).toBe(total);
        if (total === 0) continue;
        const h = kannonHistogram() as unknown as Internals;
        const valueAtRank = (rank: number) => {
          let seen = 0;
          for (const [value, c] of pairs) if ((seen += c) >= rank) return value;
          throw new Error("rank beyond the count");
        };
        for (const p of PERCENTILES) expect(expected.percentiles[String(p)], `${field} p${p}`).toBe(h.highestEquivalentValue(valueAtRank(jsRank(p, total))));
        expect(expected.min, field).toBe(h.lowestEquivalentValue(pairs[0]![0]));
        expect(expected.max, field).toBe(h.highestEquivalentValue(pairs.at(-1)![0]));
      }
    });
  }

  it("the manifest's expectations are what the histogram bytes hold (not copied from the recording)", () => {
    expect(withHistograms.length).toBeGreaterThanOrEqual(8);
    for (const v of withHistograms) {
      const message = fromBinary(schemaOf(v.type), read(v.binary));
      const m = message as unknown as { latencyHistogram: Uint8Array };
      expect(expectationOf(m.latencyHistogram), v.name).toEqual(v.histograms!.latency_histogram);
    }
  });

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
        expect(summary(decodeFromCompressedBase64(Buffer.from(bytes).toString("base64"), 64, false))).toEqual(expected);
        const counts = new Counts();
        counts.addSparse(decodeCounts(bytes));
        expect(summary(counts.toHistogram())).toEqual(expected);
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
    });
  }
});
