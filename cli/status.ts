import type { WatchTestResponse } from "../gen/kannon/v1/orchestrator_pb.js";
import type { Stats } from "../gen/kannon/v1/report_pb.js";
import { DEFAULT_REPORT_INTERVAL_MS } from "../workload/defaults.js";
import { TestState, Verdict } from "../gen/kannon/v1/test_pb.js";
import { msOf } from "../metrics/stats.js";
import { isPartialInterval } from "../web/format.js";
import { expectedDurationMs } from "../orchestrator/plan.js";

export { isPartialInterval };

const ms = (us: bigint | undefined) => `${(Number(us ?? 0n) / 1000).toFixed(2)} ms`;

/**
 * On a terminal, one status block that updates in place as the test streams: elapsed and
 * remaining time, the last interval's req/s and p50/p99, errors so far, drivers running, finished
 * and lost. Other lines (a threshold breach) are printed above it.
 */
export class StatusBlock {
  private shown = 0;
  /** The last whole interval: a partial one (cut short by the end) would show a rate never held. */
  private last: Stats | undefined;

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** Redraws the block from a WatchTest message. */
  update(m: WatchTestResponse): void {
    const t = m.test;
    if (!t) return;
    const now = Date.now();
    const startMs = t.startAt ? msOf(t.startAt) : now;
    const duration = t.spec ? expectedDurationMs(t.spec) : undefined;
    const elapsed = Math.max(0, (now - startMs) / 1000);
    const remaining = duration === undefined ? "" : ` / remaining ${Math.max(0, (startMs + duration - now) / 1000).toFixed(1)} s`;
    const c = m.cumulative;
    const nominalMs = t.spec?.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
    if (m.interval && !isPartialInterval(m.interval, nominalMs)) this.last = m.interval;
    const i = this.last;
    const errorRate = c && c.requests > 0n ? (Number(c.errors) / Number(c.requests)) * 100 : 0;
    const running = m.drivers.filter((d) => !d.finished && !d.lost).length;
    const lines = [
      `kannon: test ${t.id.slice(0, 8)}${t.spec?.name ? ` "${t.spec.name}"` : ""} ${TestState[t.state]}  elapsed ${elapsed.toFixed(1)} s${remaining}`,
      // Before the first interval, or after one without a request, there is nothing to show.
      `  req/s ${i?.requests ? i.requestsPerS.toFixed(0) : "–"}   p50 ${i?.requests ? ms(i.latency?.p50Us) : "–"}   p99 ${i?.requests ? ms(i.latency?.p99Us) : "–"}   ` +
        `requests ${c?.requests ?? 0n}   errors ${c?.errors ?? 0n} (${errorRate.toFixed(2)}%)`,
      ...(t.outcome?.verdict === Verdict.FAILING ? [`  FAILING: ${t.outcome.reasons.join("; ")}`] : []),
      `  drivers: ${running} running, ${m.drivers.filter((d) => d.finished).length} finished, ${m.drivers.filter((d) => d.lost).length} lost`,
    ];
    this.draw(lines);
  }

  /** Prints a line above the block. */
  print(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
  }

  /** Leaves the block as it is and stops updating it. */
  end(): void {
    this.shown = 0;
  }

  private clear(): void {
    if (this.shown > 0) this.out.write(`\x1b[${this.shown}A\x1b[J`);
    this.shown = 0;
  }

  private draw(lines: string[]): void {
    this.clear();
    this.out.write(`${lines.join("\n")}\n`);
    this.shown = lines.length;
  }
}
