/**
 * A driver's intake of test data (topic `data`): it keeps the chunks addressed to it (or to every
 * driver) of the tests it takes part in, assembles its part of each data file once every chunk is
 * there, and hands the parts over once; the chunks of other drivers are dropped on arrival.
 */
import type { DataChunkMessage, TestConfigMessage } from "../../gen/kannon/v1/bus_pb.js";
import type { DataPart } from "../load/load.js";

/** Test attempts whose chunks are kept before their config arrives (topics are not ordered with each other). */
const MAX_EARLY = 4;
/** Most chunks one part may announce (200 MB in chunks of 512 KiB is 400). */
const MAX_CHUNKS = 100_000;

/** What an assembled test attempt yields: the parts by file name, or why they cannot be used. */
export type Intake = { data: Map<string, DataPart>; rows: Record<string, bigint> } | { error: string };

interface FileChunks {
  total: number;
  chunks: (DataChunkMessage | undefined)[];
  received: number;
}

interface Assembly {
  files: Map<string, FileChunks>;
  config?: TestConfigMessage;
  ready?: (intake: Intake) => void;
  /** The first chunk that made no sense, if any. */
  problem?: string;
}

/** The chunks one driver keeps, per test attempt, until its parts are complete. */
export class DataIntake {
  private readonly assemblies = new Map<string, Assembly>();
  /** Test attempts whose config did not name this driver: their chunks are dropped. */
  private readonly notMine = new Set<string>();

  constructor(private readonly driverId: string) {}

  /** A chunk from the bus: kept when it is this driver's part (or every driver's) of an attempt it may run. */
  onChunk(m: DataChunkMessage): void {
    if (m.driverId !== "" && m.driverId !== this.driverId) return;
    const key = keyOf(m.testId, m.attempt);
    if (this.notMine.has(key)) return;
    const a = this.assembly(key);
    if (!a || a.problem || (a.config && !a.ready)) return;
    if (m.total < 1 || m.total > MAX_CHUNKS || m.seq >= m.total) {
      a.problem = `chunk ${m.seq} of ${m.total} of data file ${m.file} is out of range`;
    } else {
      let f = a.files.get(m.file);
      if (!f) a.files.set(m.file, (f = { total: m.total, chunks: [], received: 0 }));
      if (f.total !== m.total) a.problem = `the chunks of data file ${m.file} disagree on their count (${f.total}, ${m.total})`;
      else if (!f.chunks[m.seq]) {
        f.chunks[m.seq] = m;
        f.received++;
      }
    }
    this.check(key, a);
  }

  /**
   * The config of a test attempt that names this driver: `ready` is called once, when every chunk of
   * each of its data files is here (at once when they already are).
   */
  expect(config: TestConfigMessage, ready: (intake: Intake) => void): void {
    const key = keyOf(config.testId, config.attempt);
    const a = this.assembly(key, true)!;
    a.config = config;
    a.ready = ready;
    this.check(key, a);
  }

  /** A config that does not name this driver: the attempt's chunks are not kept. */
  ignore(testId: string, attempt: number): void {
    const key = keyOf(testId, attempt);
    this.assemblies.delete(key);
    this.notMine.add(key);
    if (this.notMine.size > 64) this.notMine.delete(this.notMine.values().next().value as string);
  }

  /** Forgets an attempt's chunks (it was handed over, cancelled or given up). */
  drop(testId: string, attempt: number): void {
    this.assemblies.delete(keyOf(testId, attempt));
  }

  /** Test attempts held, for tests. */
  get held(): number {
    return this.assemblies.size;
  }

  private assembly(key: string, create = true): Assembly | undefined {
    let a = this.assemblies.get(key);
    if (!a && create) {
      this.assemblies.set(key, (a = { files: new Map() }));
      // Keep only a few attempts nobody expects yet: an attempt that is expected is never dropped here.
      const early = [...this.assemblies].filter(([, x]) => !x.ready);
      if (early.length > MAX_EARLY) this.assemblies.delete(early[0]![0]);
    }
    return a;
  }

  private check(key: string, a: Assembly): void {
    if (!a.config || !a.ready) return;
    const ready = a.ready;
    const files = a.config.spec?.dataFiles ?? [];
    let intake: Intake | undefined;
    if (a.problem) intake = { error: a.problem };
    else if (files.every((f) => complete(a.files.get(f.name)))) intake = assemble(files.map((f) => [f.name, a.files.get(f.name)!] as const));
    if (!intake) return;
    this.assemblies.delete(key);
    ready(intake);
  }
}

const keyOf = (testId: string, attempt: number) => `${attempt}/${testId}`;
const complete = (f: FileChunks | undefined) => f !== undefined && f.received === f.total;

/** Builds each file's part from its chunks, checking that they add up. */
function assemble(files: (readonly [string, FileChunks])[]): Intake {
  const data = new Map<string, DataPart>();
  const rows: Record<string, bigint> = {};
  for (const [name, f] of files) {
    const columns = f.chunks[0]!.columns;
    const part: string[][] = [];
    for (const c of f.chunks as DataChunkMessage[]) {
      const width = columns.length;
      if (c.columns.length !== width || c.values.length !== c.rows * width)
        return { error: `chunk ${c.seq} of data file ${name} holds ${c.values.length} values for ${c.rows} row(s) of ${width} column(s)` };
      for (let r = 0; r < c.rows; r++) part.push(c.values.slice(r * width, (r + 1) * width));
    }
    const announced = f.chunks[0]!.partRows;
    if (BigInt(part.length) !== announced) return { error: `the chunks of data file ${name} hold ${part.length} row(s), the part has ${announced}` };
    data.set(name, { columns: [...columns], rows: part });
    rows[name] = BigInt(part.length);
  }
  return { data, rows };
}
