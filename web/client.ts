/** What every page shares: the API client (with the tab's token) and error reporting (formatting: format.ts). */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import type { TestSpec } from "../gen/kannon/v1/test_pb.js";

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

let reporter: (err: unknown) => void = (err) => console.error(err);
/** Shows an error the way the app does (set by the app shell). */
export const showError = (err: unknown) => reporter(err);
/** Sets how errors are shown. */
export function setErrorReporter(f: (err: unknown) => void): void {
  reporter = f;
}

/** Creates a test of `spec`, starts it when `start`, and opens its live view (or, not started, the tests list). */
export async function createAndOpen(spec: TestSpec, start: boolean): Promise<void> {
  const { test } = await api.createTest({ spec });
  if (start) await api.startTest({ testId: test!.id });
  location.hash = start ? `#/test/${test!.id}` : "#/tests";
}
