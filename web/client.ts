/** What every page shares: the API client (with the tab's token), formatting, error reporting. */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";

export type Api = Client<typeof OrchestratorService>;

/** Where the bearer token is kept: this tab's session storage. */
export const TOKEN_KEY = "kannon.token";

/** The API client of this page's origin, with the bearer token from session storage. */
export const api: Api = createClient(
  OrchestratorService,
  createConnectTransport({
    baseUrl: location.origin,
    interceptors: [
      (next) => (req) => {
        const token = sessionStorage.getItem(TOKEN_KEY);
        if (token) req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  }),
);

/** Escapes text for HTML. */
export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** Microseconds as milliseconds. */
export const ms = (us: bigint | number | undefined) => (us === undefined ? "—" : `${(Number(us) / 1000).toFixed(2)} ms`);
/** A Timestamp as local time. */
export const when = (t: { seconds: bigint; nanos: number } | undefined) =>
  t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)).toLocaleString() : "—";
/** A Timestamp as epoch ms. */
export const epochMs = (t: { seconds: bigint; nanos: number } | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0);

let reporter: (err: unknown) => void = (err) => console.error(err);
/** Shows an error the way the app does (set by the app shell). */
export const showError = (err: unknown) => reporter(err);
/** Sets how errors are shown. */
export function setErrorReporter(f: (err: unknown) => void): void {
  reporter = f;
}
