/**
 * The new-test form: every TestSpec field with its unit; the server validates, and each
 * `invalid_argument` problem is shown next to its field (the page does no validation of its own);
 * below it, a spec file (web/spec-editor.ts).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { StageSchema, TestSpecSchema, type TestSpec } from "../gen/kannon/v1/test_pb.js";
import { api, createAndOpen, showError } from "./client.js";
import { esc } from "./format.js";
import { specEditorHtml, wireSpecEditor } from "./spec-editor.js";

/** [field path as the server names it, label, unit, input type, default]. */
type Field = [string, string, string, string, string];

const COMMON: Field[] = [
  ["spec.name", "name", "", "text", ""],
  ["spec.target_url", "target URL", "http(s)", "url", ""],
  ["spec.method", "method", "", "text", "GET"],
  ["spec.driver_count", "drivers", "0 = every ready driver", "number", "0"],
  ["spec.report_interval_ms", "report interval", "ms", "number", "1000"],
  ["spec.request_timeout_ms", "request timeout", "ms (0 = 10000)", "number", "0"],
  ["spec.start_delay_ms", "start delay", "ms (0 = 1000)", "number", "0"],
  ["spec.max_duration_ms", "max duration", "ms (0 = none)", "number", "0"],
];
const WORKLOADS: Record<string, Field[]> = {
  avalanche: [
    ["spec.avalanche.concurrency", "concurrency", "requests in flight per driver", "number", "10"],
    ["spec.avalanche.requests_per_driver", "requests per driver", "requests (or a duration)", "number", ""],
    ["spec.avalanche.duration_ms", "duration", "ms", "number", "5000"],
  ],
  tsunami: [
    ["spec.tsunami.delay_ms", "delay", "ms between request starts, per driver", "number", "10"],
    ["spec.tsunami.requests_per_driver", "requests per driver", "requests (or a duration)", "number", ""],
    ["spec.tsunami.duration_ms", "duration", "ms", "number", "5000"],
    ["spec.tsunami.max_in_flight", "max in flight", "requests (0 = no cap)", "number", "0"],
  ],
  arrival_rate: [
    ["spec.arrival_rate.rate_per_s", "rate", "req/s, whole fleet", "number", "100"],
    ["spec.arrival_rate.duration_ms", "duration", "ms", "number", "5000"],
    ["spec.arrival_rate.max_in_flight", "max in flight", "requests per driver (0 = 1000)", "number", "0"],
    ["spec.arrival_rate.stages", "stages", "one per line: target req/s, duration ms", "textarea", ""],
  ],
};

/** The number fields that may have a fraction (every other one is a whole count or milliseconds). */
const FRACTIONAL = new Set(["spec.arrival_rate.rate_per_s"]);

const input = ([path, label, unit, type, value]: Field) =>
  `<label data-field="${path}">${esc(label)} ${
    type === "textarea" ? `<textarea name="${path}" rows="3">${esc(value)}</textarea>` : `<input name="${path}" type="${type}" value="${esc(value)}" step="any"${type === "url" ? ` placeholder="http://HOST:PORT/path"` : ""}>`
  }<span class="unit">${esc(unit)}</span><span class="problem"></span></label>`;

/** The form. */
export async function newTestPage(root: HTMLElement): Promise<void> {
  root.innerHTML = `<h2>New test</h2><form id="new-test" novalidate>
    ${COMMON.map(input).join("")}
    <label>workload <select name="workload">${Object.keys(WORKLOADS).map((w) => `<option value="${w}">${w.replace("_", " ")}</option>`).join("")}</select></label>
    ${Object.entries(WORKLOADS).map(([w, fields]) => `<fieldset data-workload="${w}"${w === "avalanche" ? "" : " hidden"}><legend>${w.replace("_", " ")}</legend>${fields.map(input).join("")}</fieldset>`).join("")}
    <p class="problem" id="form-problems"></p>
    <button name="start" value="1">Create and start</button> <button name="start" value="0">Create</button>
  </form>${specEditorHtml()}`;
  const form = document.getElementById("new-test") as HTMLFormElement;
  // The target the fleet this page is served by offers (kannon run's built-in target), else empty.
  const { defaultTargetUrl } = await api.listDrivers({ pageSize: 1 });
  const target = form.elements.namedItem("spec.target_url") as HTMLInputElement;
  if (defaultTargetUrl && target.value === "") target.value = defaultTargetUrl;
  wireSpecEditor(root, defaultTargetUrl);
  const workload = form.elements.namedItem("workload") as HTMLSelectElement;
  workload.addEventListener("change", () => {
    for (const fs of form.querySelectorAll<HTMLFieldSetElement>("fieldset")) fs.hidden = fs.dataset.workload !== workload.value;
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const start = (ev as SubmitEvent).submitter?.getAttribute("value") === "1";
    void submit(form, workload.value, start);
  });
}

async function submit(form: HTMLFormElement, workload: string, start: boolean): Promise<void> {
  for (const p of form.querySelectorAll(".problem")) p.textContent = "";
  const v = (path: string) => (form.elements.namedItem(path) as HTMLInputElement | null)?.value.trim() ?? "";
  // A number the wire cannot carry (a negative count, a fraction of a millisecond) is named next to
  // its field here, in words, instead of failing to encode; every other rule is the server's.
  const problems = new Map<string, string>();
  const n = (path: string) => {
    const text = v(path);
    if (text === "") return 0;
    const x = Number(text);
    if (!Number.isFinite(x)) problems.set(path, `must be a number, not "${text}"`);
    else if (x < 0) problems.set(path, `must be 0 or more, not ${text}`);
    else if (!FRACTIONAL.has(path) && !Number.isInteger(x)) problems.set(path, `must be a whole number, not ${text}`);
    return Number.isFinite(x) ? Math.max(0, x) : 0;
  };
  let spec: TestSpec;
  try {
    spec = buildSpec(workload, v, n);
  } catch (err) {
    document.getElementById("form-problems")!.textContent = String((err as Error).message);
    return;
  }
  if (problems.size > 0) {
    for (const [path, problem] of problems) form.querySelector(`[data-field="${CSS.escape(path)}"] .problem`)!.textContent = problem;
    return;
  }
  try {
    await createAndOpen(spec, start);
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code !== Code.InvalidArgument && e.code !== Code.PermissionDenied && e.code !== Code.FailedPrecondition) return showError(err);
    // "spec.a problem; spec.b problem": each next to its field, the rest above the buttons.
    const rest: string[] = [];
    for (const part of e.rawMessage.split("; ")) {
      const field = part.split(" ")[0]!.replace(/\[.*$/, "");
      const slot = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(field)}"] .problem`);
      if (slot) slot.textContent = part.slice(part.indexOf(" ") + 1);
      else rest.push(part);
    }
    document.getElementById("form-problems")!.textContent = rest.join("; ");
  }
}

function buildSpec(workload: string, v: (p: string) => string, n: (p: string) => number): TestSpec {
  const limit = (prefix: string) =>
    v(`${prefix}.requests_per_driver`) !== ""
      ? { case: "requestsPerDriver" as const, value: BigInt(Math.max(0, Math.trunc(n(`${prefix}.requests_per_driver`)))) }
      : v(`${prefix}.duration_ms`) !== ""
        ? { case: "durationMs" as const, value: n(`${prefix}.duration_ms`) }
        : { case: undefined };
  const base = {
    name: v("spec.name"),
    targetUrl: v("spec.target_url"),
    method: v("spec.method"),
    driverCount: n("spec.driver_count"),
    reportIntervalMs: n("spec.report_interval_ms"),
    requestTimeoutMs: n("spec.request_timeout_ms"),
    startDelayMs: n("spec.start_delay_ms"),
    maxDurationMs: n("spec.max_duration_ms"),
  };
  if (workload === "avalanche")
    return create(TestSpecSchema, { ...base, workload: { case: "avalanche", value: { concurrency: n("spec.avalanche.concurrency"), limit: limit("spec.avalanche") } } });
  if (workload === "tsunami")
    return create(TestSpecSchema, {
      ...base,
      workload: { case: "tsunami", value: { delayMs: n("spec.tsunami.delay_ms"), maxInFlight: n("spec.tsunami.max_in_flight"), limit: limit("spec.tsunami") } },
    });
  const stages = v("spec.arrival_rate.stages")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line, i) => {
      const [rate, duration] = line.split(",").map((x) => Number(x.trim()));
      if (!Number.isFinite(rate) || !Number.isFinite(duration)) throw new Error(`stages line ${i + 1}: write "target req/s, duration ms"`);
      return create(StageSchema, { targetRatePerS: rate!, durationMs: duration! });
    });
  return create(TestSpecSchema, {
    ...base,
    workload: {
      case: "arrivalRate",
      value: { ratePerS: n("spec.arrival_rate.rate_per_s"), durationMs: n("spec.arrival_rate.duration_ms"), maxInFlight: n("spec.arrival_rate.max_in_flight"), stages },
    },
  });
}
