/**
 * The dashboard's compare page (`#/compare`, `#/compare/BASE`, `#/compare/BASE/CANDIDATE`): two
 * ended tests chosen from the list, `--max-regression` rules typed as on the command line, and the
 * same table and verdict as `kannon compare --format html` (web/compare.ts, web/compare-html.ts).
 */
import type { Report } from "../gen/kannon/v1/report_pb.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { isEnded } from "../metrics/outcome.js";
import { api } from "./client.js";
import { compareTableHtml, verdictHtml } from "./compare-html.js";
import { compareReports, judgeComparison, parseRegressionRule, type RegressionRule } from "./compare.js";
import { esc } from "./format.js";

/** The rules the form starts with. */
const DEFAULT_RULES = "p99=10%, error_rate=0.5pp";

const option = (t: Test, selected: string | undefined) =>
  `<option value="${esc(t.id)}"${t.id === selected ? " selected" : ""}>${esc(t.spec?.name || t.id.slice(0, 8))} · ${esc(t.id.slice(0, 8))} · ${TestState[t.state]}</option>`;

/** The compare page; `base` and `candidate` preselect the two tests and compare them at once. */
export async function comparePage(root: HTMLElement, base: string | undefined, candidate: string | undefined): Promise<void> {
  const tests = (await api.listTests({ pageSize: 100 })).tests.filter((t) => isEnded(t.state));
  const pick = (name: string, selected: string | undefined) => `<select name="${name}">${tests.map((t) => option(t, selected)).join("")}</select>`;
  root.innerHTML = `<h2>Compare two runs</h2>
    <form id="compare-form"><label>base ${pick("base", base)}</label> <label>candidate ${pick("candidate", candidate ?? tests.find((t) => t.id !== base)?.id)}</label>
    <label>max regression <input name="rules" size="40" value="${esc(DEFAULT_RULES)}"></label> <button>Compare</button></form>
    <p class="problem" id="compare-problem"></p><div id="compare-result"></div>`;
  const form = root.querySelector<HTMLFormElement>("#compare-form")!;
  const show = async () => {
    const data = new FormData(form);
    const [a, b] = [String(data.get("base") ?? ""), String(data.get("candidate") ?? "")];
    const parsed = String(data.get("rules") ?? "").split(",").map((t) => t.trim()).filter(Boolean).map(parseRegressionRule);
    const problems = parsed.flatMap((p) => ("error" in p ? [p.error] : []));
    root.querySelector("#compare-problem")!.textContent = problems.join("; ");
    if (problems.length > 0 || !a || !b) return;
    const rules = parsed as RegressionRule[];
    const [ra, rb] = await Promise.all([api.getReport({ testId: a }), api.getReport({ testId: b })]);
    const c = compareReports(ra.report as Report, rb.report as Report);
    const regressions = judgeComparison(c, rules);
    const only = [...c.onlyInBase.map((n) => `only in base: ${n}`), ...c.onlyInCandidate.map((n) => `only in candidate: ${n}`)];
    root.querySelector("#compare-result")!.innerHTML = `${verdictHtml(rules, regressions)}${compareTableHtml(c, regressions)}${only.length ? `<p id="compare-only">${esc(only.join(" · "))}</p>` : ""}`;
    history.replaceState(null, "", `#/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`);
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void show();
  });
  if (base && candidate) await show();
}
