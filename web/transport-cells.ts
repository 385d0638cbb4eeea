/**
 * What the exports and views show of RPCs, HTTP/2 and TLS (issue 23): RPC codes, protocols, TLS
 * handshakes and server streams. Only when a test has them: an HTTP/1.1 test's CSV, tables and
 * numbers stay as they were. Browser-safe.
 */
import type { LatencyStats, Stats } from "../gen/kannon/v1/report_pb.js";
import { RPC_CODES } from "../rpc/codes.js";

/** A latency in µs, empty when it has no sample. */
const us = (l: LatencyStats | undefined, key: "p50Us" | "p99Us") => (l && l.count > 0n ? l[key] : "");

/** Codes in Connect's order (ok first), any unknown name after them. */
export function codeOrder(codes: Iterable<string>): string[] {
  const rank = (c: string) => {
    const i = RPC_CODES.indexOf(c);
    return i < 0 ? RPC_CODES.length : i;
  };
  return [...new Set(codes)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** True when some response was not HTTP/1.1. */
export const notOnlyHttp11 = (s: Stats) => Object.keys(s.protocolCounts).some((p) => p !== "http/1.1");
const hasStreams = (s: Stats) => s.messagesReceived > 0n || (s.firstMessage?.count ?? 0n) > 0n;
const hasHandshakes = (s: Stats) => (s.handshake?.count ?? 0n) > 0n;

/** Stats and those of their steps. */
const withSteps = (all: readonly Stats[]) => all.flatMap((s) => [s, ...s.steps.flatMap((st) => (st.stats ? [st.stats] : []))]);

/**
 * The CSV columns the intervals need beyond the HTTP/1.1 ones, and each interval's (or step's)
 * cells for them: `code_NAME` per code seen, `protocol_NAME` per protocol when not only HTTP/1.1,
 * `handshakes` and their p50/p99 when TLS shook hands, and stream messages, messages/s and first
 * message p50/p99 when a server stream sent any.
 */
export function transportColumns(intervals: readonly Stats[]): { header: string[]; cells: (s: Stats) => unknown[] } {
  const all = withSteps(intervals);
  const codes = codeOrder(all.flatMap((s) => Object.keys(s.codeCounts)));
  const protocols = all.some(notOnlyHttp11) ? [...new Set(all.flatMap((s) => Object.keys(s.protocolCounts)))].sort() : [];
  const handshakes = all.some(hasHandshakes);
  const streams = all.some(hasStreams);
  const header = [
    ...codes.map((c) => `code_${c}`),
    ...protocols.map((p) => `protocol_${p}`),
    ...(handshakes ? ["handshakes", "handshake_p50_us", "handshake_p99_us"] : []),
    ...(streams ? ["messages_received", "messages_per_s", "first_message_p50_us", "first_message_p99_us"] : []),
  ];
  const cells = (s: Stats): unknown[] => [
    ...codes.map((c) => s.codeCounts[c] ?? 0n),
    ...protocols.map((p) => s.protocolCounts[p] ?? 0n),
    ...(handshakes ? [s.handshake?.count ?? 0n, us(s.handshake, "p50Us"), us(s.handshake, "p99Us")] : []),
    ...(streams ? [s.messagesReceived, s.messagesPerS.toFixed(3), us(s.firstMessage, "p50Us"), us(s.firstMessage, "p99Us")] : []),
  ];
  return { header, cells };
}

/**
 * The key/value cells of a run's RPC, HTTP/2 and TLS numbers ([name, value text]), none for a
 * test without them; `ms` formats a latency.
 */
export function transportNumbers(s: Stats, ms: (l: LatencyStats, key: "p50Us" | "p99Us") => string): [string, string][] {
  const cells: [string, string][] = [];
  if (notOnlyHttp11(s)) cells.push(["protocols", Object.entries(s.protocolCounts).map(([p, n]) => `${p} ${n}`).join(" · ")]);
  if (hasHandshakes(s)) cells.push(["TLS handshakes", `${s.handshake!.count} · p50 ${ms(s.handshake!, "p50Us")} / p99 ${ms(s.handshake!, "p99Us")}`]);
  if (hasStreams(s)) {
    cells.push(["stream messages", `${s.messagesReceived} (${s.messagesPerS.toFixed(1)}/s)`]);
    if (s.firstMessage && s.firstMessage.count > 0n) cells.push(["first message p50 / p99", `${ms(s.firstMessage, "p50Us")} / ${ms(s.firstMessage, "p99Us")}`]);
  }
  return cells;
}
