/**
 * Data files (scenario.proto DataFile): RFC 4180 CSV with a header row, or JSON lines, parsed into
 * a table of text; and the split that hands each row to exactly one driver.
 */
import { DataFormat } from "../gen/kannon/v1/scenario_pb.js";
import { scalarText } from "./response.js";

/** A parsed data file: column names, and rows of text in column order. */
export interface DataTable {
  columns: string[];
  rows: string[][];
}

/** A problem in a data file: the 1-based line it is on, and what is wrong. */
export interface DataProblem {
  line: number;
  problem: string;
}

/** All data files of one test together hold at most this many bytes (UTF-8). */
export const MAX_DATA_BYTES = 200 * 1024 * 1024;
/** The content bytes of a test's data files once the orchestrator stripped them (DataFile.content_bytes). */
export function strippedBytes(files: readonly { contentBytes: bigint }[]): number {
  return files.reduce((sum, f) => sum + Number(f.contentBytes), 0);
}

/**
 * How long a test's drivers get to receive their parts of `bytes` of data files and confirm them
 * (the orchestrator's wait before START, and a driver's wait for its part): 15 s, and 1 s per MB.
 */
export function dataReadyDeadlineMs(bytes: number): number {
  return 15_000 + Math.ceil(bytes / 1_000_000) * 1000;
}
/** Most problems reported per file (a broken file would otherwise list every row). */
export const MAX_DATA_PROBLEMS = 20;

/**
 * Parses a data file's content in its format (the one place the parser is picked: CreateTest's
 * validation, the orchestrator's split and the driver). Undefined for a file without a format,
 * which CreateTest refuses.
 */
export function parseDataFile(format: DataFormat, content: string): DataTable | DataProblem[] | undefined {
  if (format === DataFormat.CSV) return parseCsv(content);
  if (format === DataFormat.JSON_LINES) return parseJsonLines(content);
  return undefined;
}

/**
 * Parses RFC 4180 CSV: the first record names the columns; fields are separated by `,`, records by
 * CRLF or LF; a field in double quotes may hold commas, line breaks and `""` for a quote. Empty
 * lines are skipped. A record with another number of fields than the header is ragged.
 */
export function parseCsv(text: string): DataTable | DataProblem[] {
  const problems: DataProblem[] = [];
  const records: { line: number; fields: string[] }[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n && problems.length < MAX_DATA_PROBLEMS) {
    if (text[i] === "\n" || (text[i] === "\r" && text[i + 1] === "\n")) {
      i += text[i] === "\r" ? 2 : 1;
      line++;
      continue;
    }
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (text[i] === '"') {
        const open = line;
        i++;
        for (;;) {
          if (i >= n) {
            problems.push({ line: open, problem: "a quoted field is never closed" });
            break;
          }
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          problems.push({ line, problem: "text after a closing quote (a quote inside a field is written \"\")" });
          while (i < n && text[i] !== "\n") i++;
        }
      } else {
        const from = i;
        while (i < n && text[i] !== "," && text[i] !== "\n" && !(text[i] === "\r" && text[i + 1] === "\n")) i++;
        field = text.slice(from, i);
        if (field.includes('"')) problems.push({ line, problem: "a quote inside an unquoted field (quote the whole field)" });
      }
      fields.push(field);
      if (text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    records.push({ line: start, fields });
  }
  const header = records.shift();
  if (!header) return [...problems, { line: 1, problem: "no header row" }];
  const seen = new Set<string>();
  for (const c of header.fields) {
    if (c === "") problems.push({ line: header.line, problem: "a column name is empty" });
    else if (seen.has(c)) problems.push({ line: header.line, problem: `column "${c}" is named twice` });
    seen.add(c);
  }
  for (const r of records) {
    if (problems.length >= MAX_DATA_PROBLEMS) break;
    if (r.fields.length !== header.fields.length)
      problems.push({ line: r.line, problem: `ragged row: ${r.fields.length} field(s), the header has ${header.fields.length}` });
  }
  return problems.length > 0 ? problems : { columns: header.fields, rows: records.map((r) => r.fields) };
}

/**
 * Parses JSON lines: one JSON object per line (blank lines skipped). The columns are every member
 * name in order of first appearance; a value is its text (scalarText; an object or array as its JSON
 * text); a row without a member has "" there.
 */
export function parseJsonLines(text: string): DataTable | DataProblem[] {
  const problems: DataProblem[] = [];
  const objects: Record<string, unknown>[] = [];
  const index = new Map<string, number>();
  text.split("\n").forEach((raw, i) => {
    const s = raw.trim();
    if (!s || problems.length >= MAX_DATA_PROBLEMS) return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      problems.push({ line: i + 1, problem: `not JSON: ${(e as Error).message}` });
      return;
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      problems.push({ line: i + 1, problem: "not a JSON object" });
      return;
    }
    for (const k of Object.keys(v)) if (!index.has(k)) index.set(k, index.size);
    objects.push(v as Record<string, unknown>);
  });
  if (problems.length > 0) return problems;
  const columns = [...index.keys()];
  const rows = objects.map((o) => columns.map((c) => (Object.hasOwn(o, c) ? (scalarText(o[c]) ?? JSON.stringify(o[c])) : "")));
  return { columns, rows };
}

/** The rows driver `share` (0-based) of `drivers` holds with DATA_SPLIT_EXCLUSIVE: row i when i mod drivers = share. */
export function rowsOfShare<T>(rows: readonly T[], share: number, drivers: number): T[] {
  if (!Number.isInteger(drivers) || drivers < 1) throw new RangeError(`drivers must be a positive integer, got ${drivers}`);
  if (!Number.isInteger(share) || share < 0 || share >= drivers) throw new RangeError(`share must be in 0..${drivers - 1}, got ${share}`);
  const out: T[] = [];
  for (let i = share; i < rows.length; i += drivers) out.push(rows[i]!);
  return out;
}

/** A row as column name → text, for template rendering. */
export function rowRecord(columns: readonly string[], row: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  columns.forEach((c, i) => (out[c] = row[i] ?? ""));
  return out;
}
