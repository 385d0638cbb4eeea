/**
 * `kannon compare --format html`: one self-contained file (no script, no network) in the HTML
 * report's style: both runs, the verdict, and per row (total, scenarios, steps) every statistic's
 * base, candidate and change, regressed cells in red. Browser-safe.
 */
import { changeText, COMPARE_STATS, regressionLines, STAT_KINDS, statText, type Comparison, type Regression, type RegressionRule, type RunRef } from "./compare.js";
import { esc, REPORT_STYLE } from "./format.js";

const runText = (r: RunRef) => `<code>${esc(r.testId)}</code>${r.name ? ` “${esc(r.name)}”` : ""} (${esc(r.state)})`;

/** The comparison table (`id="compare"`): three lines per row, a regressed change in class `failing` with `data-regressed`. */
export function compareTableHtml(c: Comparison, regressions: readonly Regression[]): string {
  const head = `<thead><tr><th>row</th><th></th>${COMPARE_STATS.map((s) => `<th>${esc(STAT_KINDS[s].label)}</th>`).join("")}</tr></thead>`;
  const body = c.rows.map((row) => {
    const regressed = new Set(regressions.filter((r) => r.kind === row.kind && r.row === row.name).map((r) => r.stat));
    const label = row.kind === "total" ? "total" : `${row.kind} ${row.name}`;
    const line = (which: string, cells: string[]) => `<tr data-row="${esc(label)}" data-side="${which}">${which === "base" ? `<td rowspan="3">${esc(label)}</td>` : ""}<td>${which}</td>${cells.join("")}</tr>`;
    return [
      line("base", row.changes.map((x) => `<td>${esc(statText(x.stat, x.base))}</td>`)),
      line("candidate", row.changes.map((x) => `<td>${esc(statText(x.stat, x.candidate))}</td>`)),
      line(
        "change",
        row.changes.map((x) => (regressed.has(x.stat) ? `<td class="failing" data-regressed="${esc(x.stat)}"><b>${esc(changeText(x.stat, x.change))}</b></td>` : `<td>${esc(changeText(x.stat, x.change))}</td>`)),
      ),
    ].join("");
  });
  return `<table id="compare">${head}<tbody>${body.join("\n")}</tbody></table>`;
}

/** The verdict (`id="verdict"`): PASSING or FAILING with one line per regression; nothing to judge without rules. */
export function verdictHtml(rules: readonly RegressionRule[], regressions: readonly Regression[]): string {
  if (rules.length === 0) return "<p>No --max-regression rule: nothing judged.</p>";
  if (regressions.length === 0) return `<p id="verdict"><span class="verdict passing" data-verdict="passing">PASSING</span> no regression beyond ${esc(rules.map((r) => r.text).join(", "))}</p>`;
  const lines = regressionLines(regressions, rules).map((l) => `<li class="failing">${esc(l)}</li>`);
  return `<p id="verdict"><span class="verdict failing" data-verdict="failing">FAILING</span> ${regressions.length} regression${regressions.length === 1 ? "" : "s"}</p><ul id="regressions">${lines.join("")}</ul>`;
}

/** The whole comparison as one HTML file. */
export function compareHtml(c: Comparison, rules: readonly RegressionRule[], regressions: readonly Regression[]): string {
  const only = [
    c.onlyInBase.length ? `<p id="only-in-base">Only in the base (not compared): ${esc(c.onlyInBase.join(", "))}</p>` : "",
    c.onlyInCandidate.length ? `<p id="only-in-candidate">Only in the candidate (not compared): ${esc(c.onlyInCandidate.join(", "))}</p>` : "",
  ].join("");
  const scenarios = c.rows.some((r) => r.kind === "scenario") ? "<p>A scenario's latency is its iteration duration (think time excluded); its requests are its steps'.</p>" : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kannon comparison: ${esc(c.base.testId)} → ${esc(c.candidate.testId)}</title>
<style>${REPORT_STYLE}</style>
</head><body>
<h1>Kannon comparison</h1>
<p>Base: ${runText(c.base)}<br>Candidate: ${runText(c.candidate)}</p>
${verdictHtml(rules, regressions)}
${compareTableHtml(c, regressions)}
${scenarios}${only}
</body></html>
`;
}
