/**
 * Hands out the rows of one data file's part, one per iteration, in the file's order
 * (scenario.proto DataOrder) and says when they run out (OnExhausted).
 */
import { DataOrder, OnExhausted } from "../gen/kannon/v1/scenario_pb.js";
import { rowsOfShare, type DataTable } from "./data.js";

/** A source of random numbers in [0, 1) (Math.random; a seeded one in tests). */
export type Random = () => number;

/**
 * The rows of one part, taken in order: SEQUENTIAL in file order, SHUFFLE a random permutation per
 * pass, RANDOM a uniformly random row each time (it never runs out). With ON_EXHAUSTED_STOP a pass
 * is the only one: {@link next} returns undefined once every row was taken.
 */
export class DataCursor {
  private readonly order: DataOrder;
  private readonly stop: boolean;
  private permutation: Uint32Array | undefined;
  private position = 0;
  /** Rows handed out so far. */
  taken = 0;

  constructor(
    readonly table: DataTable,
    order: DataOrder,
    onExhausted: OnExhausted,
    private readonly random: Random = Math.random,
  ) {
    this.order = order === DataOrder.UNSPECIFIED ? DataOrder.SEQUENTIAL : order;
    this.stop = onExhausted === OnExhausted.STOP && this.order !== DataOrder.RANDOM;
  }

  /** True once no row is left (an empty part, or every row taken with ON_EXHAUSTED_STOP). */
  get exhausted(): boolean {
    const n = this.table.rows.length;
    return n === 0 || (this.stop && this.position >= n);
  }

  /** The next row, or undefined when {@link exhausted}. */
  next(): readonly string[] | undefined {
    const rows = this.table.rows;
    const n = rows.length;
    if (this.exhausted) return undefined;
    this.taken++;
    if (this.order === DataOrder.RANDOM) return rows[Math.floor(this.random() * n)];
    if (this.position >= n) this.position = 0; // wrap (a stopping cursor is exhausted before)
    const at = this.position++;
    if (this.order === DataOrder.SEQUENTIAL) return rows[at];
    if (at === 0) this.permutation = this.shuffled(n);
    return rows[this.permutation![at]!];
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  private shuffled(n: number): Uint32Array {
    const p = this.permutation?.length === n ? this.permutation : new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

/** Thread `thread.index` of `thread.count` takes rows j ≡ index (mod count) of its driver's part. */
export function threadRows(table: DataTable, thread: { index: number; count: number }): DataTable {
  return thread.count === 1 ? table : { columns: table.columns, rows: rowsOfShare(table.rows, thread.index, thread.count) };
}
