/**
 * `npm run vectors`: writes the data plane's shared test vectors into `proto/testdata/`.
 * `npm run vectors -- --check` writes nothing and exits 1 when the committed files differ.
 *
 * Each vector is one data-plane message as binary protobuf (`NAME.binpb`, protobuf-es `toBinary`)
 * and as canonical proto JSON (`NAME.json`, protobuf-es `toJson`); `vectors.json` lists them with
 * their full message type name and, for every histogram field, the numbers hdr-histogram-js reads
 * from its bytes. Everything is fixed: timestamps are constants and histogram samples come from a
 * seeded integer generator (no Math.random, no floating-point library calls), so two runs on any
 * machine write identical files. Maps are built in ascending key order (UTF-8 byte order for
 * strings), the rule proto/testdata/README.md asks of every encoder. The vectors themselves are
 * listed in scripts/test-vector-catalogue.ts.
 */
import { readFileSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { toBinary, toJson } from "@bufbuild/protobuf";
import { decodeFromCompressedBase64, encodeIntoCompressedBase64 } from "hdr-histogram-js";
import { createLatencyHistogram, type Histogram } from "../metrics/histogram.js";
import { pairsOf, utf8, VECTORS, type HistogramSpec } from "./test-vector-catalogue.js";
import { SCENARIO_VECTORS } from "./test-vector-scenarios.js";

export { pairsOf, samples, VECTORS, type HistogramSpec } from "./test-vector-catalogue.js";

/** Where the vectors live. */
export const VECTORS_DIR = join(import.meta.dirname, "..", "proto", "testdata");

/** The manifest's file name inside {@link VECTORS_DIR}. */
export const MANIFEST = "vectors.json";

/** Percentiles the manifest gives for every histogram. */
export const PERCENTILES = [50, 90, 99, 99.9] as const;


/** What hdr-histogram-js reads from an encoded histogram (a decoded min/max is a bucket edge). */
export interface HistogramExpectation {
  count: number;
  min: number;
  max: number;
  /** Percentile ("50", "90", "99", "99.9") → value in µs: the highest equivalent value of the bucket at that rank. */
  percentiles: Record<string, number>;
}

/** One vector of the manifest. */
export interface ManifestEntry {
  name: string;
  /** Full protobuf message type name, e.g. `kannon.v1.MetricsMessage`. */
  type: string;
  binary: string;
  json: string;
  description: string;
  /** Proto field name → what its histogram bytes decode to (empty bytes: no entry). */
  histograms?: Record<string, HistogramExpectation>;
  /** Proto field name → how the histogram was made, so a test can recompute it from raw samples. */
  histogramSpecs?: Record<string, HistogramSpec>;
}

/** The manifest file. */
export interface Manifest {
  about: string;
  percentileRule: string;
  vectors: ManifestEntry[];
}

/** Records a spec and encodes it in the HdrHistogram compressed encoding (V2). */
function encodeSpec(spec: HistogramSpec): Uint8Array {
  // 64-bit counts: large counts stay exact.
  const h = createLatencyHistogram(64);
  for (const [v, c] of pairsOf(spec)) h.recordValueWithCount(v, c);
  return new Uint8Array(Buffer.from(encodeIntoCompressedBase64(h), "base64"));
}

/** The percentile value, count, min and max hdr-histogram-js reads from encoded bytes. */
function expectationOf(bytes: Uint8Array): HistogramExpectation {
  return summaryOf(decodeFromCompressedBase64(Buffer.from(bytes).toString("base64"), 64, false));
}

/** A histogram's count, min, max and percentiles, in the manifest's shape. */
export function summaryOf(h: Histogram): HistogramExpectation {
  const empty = h.totalCount === 0;
  return {
    count: h.totalCount,
    min: empty ? 0 : h.minNonZeroValue,
    max: empty ? 0 : h.maxValue,
    percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), h.getValueAtPercentile(p)])),
  };
}

const PERCENTILE_RULE =
  "hdr-histogram-js 3: rank = max(1, ceil(p/100 * count - ulp)); the value is the " +
  "highest equivalent value of the bucket where the cumulative count first reaches rank. min is the lowest value " +
  "of the lowest non-empty bucket (above 0), max the highest equivalent value of the highest non-empty bucket.";

/** Renders every file the script owns: file name → bytes (vectors and the manifest). */
export function renderVectors(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const manifest: Manifest = {
    about: "Shared data-plane test vectors, written by scripts/test-vectors.ts (npm run vectors); see README.md.",
    percentileRule: PERCENTILE_RULE,
    vectors: [],
  };
  for (const def of [...VECTORS, ...SCENARIO_VECTORS]) {
    const specs: Record<string, HistogramSpec> = {};
    const histograms: Record<string, HistogramExpectation> = {};
    const message = def.make((field, hs) => {
      const bytes = encodeSpec(hs);
      specs[field] = hs;
      histograms[field] = expectationOf(bytes);
      return bytes;
    });
    files.set(`${def.name}.binpb`, toBinary(def.schema, message));
    files.set(`${def.name}.json`, utf8(`${JSON.stringify(toJson(def.schema, message), null, 2)}\n`));
    manifest.vectors.push({
      name: def.name,
      type: def.schema.typeName,
      binary: `${def.name}.binpb`,
      json: `${def.name}.json`,
      description: def.description,
      ...(Object.keys(histograms).length > 0 ? { histograms, histogramSpecs: specs } : {}),
    });
  }
  files.set(MANIFEST, utf8(`${JSON.stringify(manifest, null, 2)}\n`));
  return files;
}

/** Files in {@link VECTORS_DIR} this script wrote and no longer would (a renamed vector's). */
async function staleFiles(rendered: Map<string, Uint8Array>): Promise<string[]> {
  const present = await readdir(VECTORS_DIR).catch(() => [] as string[]);
  return present.filter((f) => f.endsWith(".binpb") && !rendered.has(f)).flatMap((f) => [f, f.replace(/\.binpb$/, ".json")]);
}

async function main(argv: string[]): Promise<number> {
  const rendered = renderVectors();
  if (argv.includes("--check")) {
    const differ = [...rendered].filter(([f, bytes]) => {
      try {
        return Buffer.compare(readFileSync(join(VECTORS_DIR, f)), bytes) !== 0;
      } catch {
        return true;
      }
    });
    const stale = await staleFiles(rendered);
    for (const [f] of differ) process.stderr.write(`differs: proto/testdata/${f}\n`);
    for (const f of stale) process.stderr.write(`stale: proto/testdata/${f}\n`);
    return differ.length + stale.length === 0 ? 0 : 1;
  }
  await mkdir(VECTORS_DIR, { recursive: true });
  for (const f of await staleFiles(rendered)) await rm(join(VECTORS_DIR, f), { force: true });
  for (const [f, bytes] of rendered) await writeFile(join(VECTORS_DIR, f), bytes);
  process.stdout.write(`wrote ${rendered.size} files into proto/testdata/\n`);
  return 0;
}

if (import.meta.filename === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
