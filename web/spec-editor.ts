/**
 * The new-test page's spec file: paste or upload YAML or JSON (the format of `kannon test -f`,
 * docs/test-spec.md), or start from one of examples/; it is mapped to a TestSpec by the CLI's own
 * code (cli/spec-document.ts), and every problem, the mapping's or the server's `invalid_argument`
 * field errors, is shown under the line of the file it names. The files the spec names (data files,
 * TLS PEMs, a schema image) are attached beside it and found by their last path segment
 * (web/attached-files.ts); a path with nothing attached is a problem under its line.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { specOfDocument } from "../cli/spec-document.js";
import { withSchemaImage } from "../cli/spec-rpc.js";
import apiSmoke from "../examples/api-smoke.yaml";
import readWriteMix from "../examples/read-write-mix.yaml";
import { attachedReader, attachedSchema, type Attached } from "./attached-files.js";
import { createAndOpen, showError } from "./client.js";
import { esc } from "./format.js";

/** The examples offered as starting points (those without a data file path). */
export const EXAMPLES: Record<string, string> = { "api-smoke.yaml": apiSmoke, "read-write-mix.yaml": readWriteMix };

type Problem = { field: string; problem: string; line?: number };

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
/** The key a spec file writes for a field whose proto name differs (`schema: FILE` is rpc_schema). */
const SPEC_KEY: Record<string, string> = { rpc_schema: "schema", abort_on_fail: "abort" };

/**
 * The line (from 1) of the node a field path names (`spec.scenarios[0].steps[1].url`), matching
 * keys by proto name or camelCase; the deepest node found when the rest is not written (a missing
 * field is reported at its parent), line 1 when nothing matches.
 */
export function lineOfField(doc: Document, lines: LineCounter, field: string): number {
  const path = field
    .replace(/^spec\.?/, "")
    .split(/\.|(?=\[)/)
    .filter((s) => s !== "")
    .map((s) => (/^\[\d+\]$/.test(s) ? Number(s.slice(1, -1)) : s));
  let node: unknown = doc.contents;
  let at = (node as Node | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (typeof seg === "number" && isSeq(node) && node.items[seg]) {
      node = node.items[seg];
      at = (node as Node).range?.[0] ?? at;
    } else if (typeof seg === "string" && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && (p.key.value === seg || p.key.value === camel(seg) || p.key.value === SPEC_KEY[seg]));
      if (!pair) break;
      at = (pair.key as Node).range?.[0] ?? at;
      node = pair.value;
    } else break;
  }
  return lines.linePos(at).line;
}

/** The section's HTML. */
export function specEditorHtml(): string {
  const examples = Object.keys(EXAMPLES).map((name) => `<button type="button" data-example="${esc(name)}">${esc(name)}</button>`).join("");
  return `<h3>From a spec file</h3>
    <p class="muted">YAML or JSON, as <code>kannon test -f</code> reads it (see docs/test-spec.md). Start from an example: ${examples}</p>
    <form id="spec-form" novalidate>
      <label>file <input type="file" id="spec-upload" accept=".yaml,.yml,.json"></label>
      <label title="data files, TLS certificates and keys, a Buf image: each path in the spec is matched by its file name">attach files the spec names <input type="file" id="spec-attach" multiple></label>
      <textarea id="spec-text" rows="16" spellcheck="false" placeholder="name: my test&#10;tsunami: {delayMs: 100, durationMs: 5000}"></textarea>
      <div id="spec-problems"></div>
      <button name="start" value="1">Create and start</button> <button name="start" value="0">Create</button>
    </form>`;
}

/** Wires the section: examples, upload, submit (`defaultUrl` fills a spec without a target). */
export function wireSpecEditor(root: HTMLElement, defaultUrl: string): void {
  const text = root.querySelector<HTMLTextAreaElement>("#spec-text")!;
  root.querySelector("[data-example]")?.parentElement!.addEventListener("click", (ev) => {
    const name = (ev.target as HTMLElement).dataset.example;
    if (name) text.value = EXAMPLES[name]!;
  });
  root.querySelector<HTMLInputElement>("#spec-upload")!.addEventListener("change", (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void file.text().then((t) => (text.value = t));
  });
  const attach = root.querySelector<HTMLInputElement>("#spec-attach")!;
  root.querySelector<HTMLFormElement>("#spec-form")!.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const start = (ev as SubmitEvent).submitter?.getAttribute("value") === "1";
    void attached(attach.files)
      .then((files) => submitSpec(text.value, files, start, defaultUrl))
      .catch(showError);
  });
}

/** The attached files' bytes by name (read at each submit, so a file changed on disk is read again). */
async function attached(list: FileList | null): Promise<Attached> {
  return new Map(await Promise.all([...(list ?? [])].map(async (f) => [f.name, new Uint8Array(await f.arrayBuffer())] as const)));
}

async function submitSpec(source: string, files: Attached, start: boolean, defaultUrl: string): Promise<void> {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false });
  const problems: Problem[] = doc.errors.map((e) => ({ field: "syntax", problem: e.message.split("\n")[0]!, line: lines.linePos(e.pos[0]).line }));
  const at = (p: Problem) => ({ ...p, line: p.line ?? lineOfField(doc, lines, p.field) });
  const spec = problems.length ? undefined : specOfDocument(doc.toJS(), attachedReader(files), problems, defaultUrl || undefined);
  if (spec) withSchemaImage(spec, attachedSchema(files), problems);
  if (!spec || problems.length) return showProblems(source, problems.map(at));
  showProblems(source, []);
  try {
    await createAndOpen(spec, start);
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code !== Code.InvalidArgument) return showError(err);
    // "spec.a problem; spec.b problem": each under the line it names.
    showProblems(source, e.rawMessage.split("; ").map((part) => at({ field: part.split(" ")[0]!, problem: part.slice(part.indexOf(" ") + 1) })));
  }
}

/** The spec's lines, each problem under the line it names (`data-line`); empty when there is none. */
function showProblems(source: string, problems: Problem[]): void {
  const box = document.getElementById("spec-problems")!;
  if (problems.length === 0) {
    box.innerHTML = "";
    return;
  }
  const byLine = new Map<number, Problem[]>();
  for (const p of problems) byLine.set(p.line!, [...(byLine.get(p.line!) ?? []), p]);
  const rows = source.split("\n").map((text, i) => {
    const here = byLine.get(i + 1) ?? [];
    return (
      `<div class="spec-line${here.length ? " bad" : ""}"><span class="ln">${i + 1}</span>${esc(text) || " "}</div>` +
      here.map((p) => `<div class="problem" data-line="${i + 1}" data-field="${esc(p.field)}">↑ ${esc(p.field)} ${esc(p.problem)}</div>`).join("")
    );
  });
  box.innerHTML = `<p class="problem">${problems.length} problem${problems.length === 1 ? "" : "s"}, each under its line:</p><pre class="spec-view">${rows.join("")}</pre>`;
}
