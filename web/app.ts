/**
 * The Kannon dashboard: a client of the same OrchestratorService RPCs as everyone else, through
 * connect-web (WatchTest and WatchDrivers stream over the Connect protocol). Hash routes:
 * #/fleet, #/tests, #/new, #/test/ID (live), #/report/ID, #/compare[/BASE[/CANDIDATE]]. The bearer token, when the server asks
 * for one, is asked once and kept in this tab's session storage.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { DriverState, type Driver } from "../gen/kannon/v1/driver_pb.js";
import { TestState, type Test } from "../gen/kannon/v1/test_pb.js";
import { api, setErrorReporter, showError, TOKEN_KEY } from "./client.js";
import { isEnded, percent } from "../metrics/outcome.js";
import { ago, duration, esc, msAt, stateClass, verdictHtml, when, workloadName } from "./format.js";
import { comparePage } from "./compare-page.js";
import { newTestPage } from "./new-test.js";
import { liveTestPage, reportPage } from "./test-view.js";

const main = () => document.getElementById("main")!;

/** Aborted when the page changes: streams and timers of the old page stop. */
let pageAbort = new AbortController();

/** Shows an error; asks for the token when the server wants one. */
function reportError(err: unknown): void {
  const e = ConnectError.from(err);
  if (e.code === Code.Unauthenticated) {
    main().innerHTML = `<h2>Token</h2><p>This orchestrator needs its bearer token. It is kept in this tab only.</p>
      <form id="token-form"><label>token <input id="token" type="password" autocomplete="off"></label><button>Use it</button></form>`;
    document.getElementById("token-form")!.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, (document.getElementById("token") as HTMLInputElement).value.trim());
      route();
    });
    return;
  }
  if (e.code === Code.Canceled) return;
  main().insertAdjacentHTML("afterbegin", `<p class="error">${esc(e.rawMessage)} (${esc(Code[e.code])})</p>`);
}

async function fleetPage(root: HTMLElement, signal: AbortSignal): Promise<void> {
  root.innerHTML = `<h2>Fleet</h2><p id="fleet-count"></p><table><thead><tr><th>driver</th><th>state</th><th>last heartbeat</th>
    <th class="hide-narrow">address</th><th>test</th></tr></thead><tbody id="fleet"></tbody></table>`;
  const drivers = new Map<string, Driver>();
  // Ages, not instants: "1 s ago", updated every second (an instant reads as if nothing moved).
  const ages = () => {
    for (const td of root.querySelectorAll<HTMLElement>("[data-heartbeat]")) td.textContent = ago(Date.now() - Number(td.dataset.heartbeat));
  };
  const timer = setInterval(ages, 1000);
  signal.addEventListener("abort", () => clearInterval(timer));
  const render = () => {
    const rows = [...drivers.values()].sort((a, b) => a.id.localeCompare(b.id));
    const ready = rows.filter((d) => d.state === DriverState.READY).length;
    document.getElementById("fleet-count")!.textContent = `${rows.length} driver${rows.length === 1 ? "" : "s"}, ${ready} ready`;
    document.getElementById("fleet")!.innerHTML = rows
      .map(
        (d) =>
          `<tr data-driver="${esc(d.id)}"><td>${esc(d.id)}</td><td class="state-${DriverState[d.state]}">${DriverState[d.state]}</td>` +
          (d.lastHeartbeatAt ? `<td data-heartbeat="${msAt(d.lastHeartbeatAt)}" title="${esc(when(d.lastHeartbeatAt))}"></td>` : "<td>—</td>") +
          `<td class="hide-narrow">${esc(d.address)}</td><td>${d.testId ? `<a href="#/test/${esc(d.testId)}">${esc(d.testId.slice(0, 8))}</a>` : ""}</td></tr>`,
      )
      .join("");
    ages();
  };
  for await (const m of api.watchDrivers({}, { signal })) {
    for (const d of m.drivers) drivers.set(d.id, d);
    if (m.changed) drivers.set(m.changed.id, m.changed);
    render();
  }
}


/** One row of the tests list: name, state and verdict, requests, errors, duration, and actions. */
function testRow(t: Test): string {
  const state = TestState[t.state];
  const ended = isEnded(t.state);
  const o = t.outcome;
  const running = t.state === TestState.STARTING || t.state === TestState.RUNNING;
  const actions = [
    t.state === TestState.CREATED ? `<button data-start="${t.id}">start</button>` : "",
    !ended ? `<button data-cancel="${t.id}">cancel</button>` : "",
    `<a href="#/${ended ? "report" : "test"}/${t.id}">open</a>`,
    running ? "" : ` <button data-delete="${t.id}" title="delete the test and everything stored of it">delete</button>`,
  ].join("");
  const errors = o ? `${o.failed}${o.requests > 0n ? ` (${percent(o.errorRate)})` : ""}` : "—";
  return `<tr data-test="${esc(t.id)}"><td>${esc(t.spec?.name || t.id.slice(0, 8))}</td><td><span class="${stateClass(state, o)}">${state}</span> ${verdictHtml(o)}</td>
    <td>${o ? o.requests : "—"}</td><td${o && o.failed > 0n ? ' class="failing"' : ""}>${errors}</td><td>${duration(t.startAt, t.endedAt)}</td><td class="hide-narrow">${when(t.createdAt)}</td>
    <td class="hide-narrow">${esc(workloadName(t.spec))}</td><td class="hide-narrow">${esc(t.spec?.targetUrl ?? "")}</td><td>${actions}</td></tr>`;
}

async function testsPage(root: HTMLElement): Promise<void> {
  root.innerHTML = `<h2>Tests</h2><table><thead><tr><th>test</th><th>state</th><th>requests</th><th>errors</th><th>duration</th><th class="hide-narrow">created</th>
    <th class="hide-narrow">workload</th><th class="hide-narrow">target</th><th></th></tr></thead><tbody id="tests"></tbody></table><p><button id="more" hidden>More</button></p>`;
  let token = "";
  const load = async () => {
    const page = await api.listTests({ pageSize: 50, pageToken: token });
    token = page.nextPageToken;
    (document.getElementById("more") as HTMLButtonElement).hidden = !token;
    document.getElementById("tests")!.insertAdjacentHTML("beforeend", page.tests.map(testRow).join(""));
  };
  root.addEventListener("click", (ev) => {
    const b = ev.target as HTMLElement;
    if (b.id === "more") void load().catch(showError);
    if (b.dataset.start) void api.startTest({ testId: b.dataset.start }).then(() => (location.hash = `#/test/${b.dataset.start}`), showError);
    if (b.dataset.cancel) void api.cancelTest({ testId: b.dataset.cancel }).then(() => route(), showError);
    const del = b.dataset.delete;
    if (del && confirm(`Delete test ${del} and everything stored of it (its report and intervals)?`))
      void api.deleteTest({ testId: del }).then(() => document.querySelector(`tr[data-test="${CSS.escape(del)}"]`)?.remove(), showError);
  });
  await load();
}

/** Renders the page of the current hash. */
export function route(): void {
  pageAbort.abort();
  pageAbort = new AbortController();
  const signal = pageAbort.signal;
  const root = main();
  root.innerHTML = "";
  const [, page, id, other] = location.hash.split("/");
  // The current page is highlighted in the header (a test's live view and report belong to Tests).
  const current = page === "test" || page === "report" ? "tests" : page === "new" || page === "tests" || page === "compare" ? page : "fleet";
  for (const a of document.querySelectorAll<HTMLAnchorElement>("header nav a"))
    if (a.getAttribute("href") === `#/${current}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  const run = (p: Promise<void>) => p.catch((err) => !signal.aborted && showError(err));
  if (page === "tests") run(testsPage(root));
  else if (page === "new") run(newTestPage(root));
  else if (page === "test" && id) run(liveTestPage(root, id, signal));
  else if (page === "report" && id) run(reportPage(root, id));
  else if (page === "compare") run(comparePage(root, id && decodeURIComponent(id), other && decodeURIComponent(other)));
  else run(fleetPage(root, signal));
}

setErrorReporter(reportError);
window.addEventListener("hashchange", route);
route();
