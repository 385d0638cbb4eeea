/** The CLI as a client of a running orchestrator's API (`--api`, `KANNON_API`). */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OrchestratorService } from "../gen/kannon/v1/orchestrator_pb.js";
import { UsageError } from "./args.js";
import type { OrchestratorClient } from "./run-test.js";
import { tokenFrom } from "./secrets.js";

/** Where an orchestrator is looked for when neither --api nor KANNON_API is given. */
export const DEFAULT_API = "http://127.0.0.1:8080";

/** Flags of a remote orchestrator's API. */
export const apiFlags = {
  api: { type: "string", value: "URL", help: "the orchestrator's API (KANNON_API)", default: DEFAULT_API },
  "token-file": { type: "string", value: "FILE", help: "the API's bearer token (or KANNON_TOKEN)" },
  token: { type: "string", value: "T", help: "the token itself (shows in the process list: prefer the two above)" },
} as const;

/** The values of {@link apiFlags}. */
export interface ApiValues {
  api?: string | undefined;
  token?: string | undefined;
  "token-file"?: string | undefined;
}

/** The API's URL from --api, KANNON_API or the default; a malformed one is a usage error. */
export function apiUrl(values: ApiValues): string {
  const url = values.api ?? process.env.KANNON_API ?? DEFAULT_API;
  const from = values.api !== undefined ? "--api" : "KANNON_API";
  if (!/^https?:\/\//i.test(url)) throw new UsageError(`${from} "${url}" has no http:// or https:// in front: did you mean http://${url}?`);
  return url;
}

/** A client of the orchestrator at --api (KANNON_API), with the bearer token if one is given. */
export function apiClient(values: ApiValues): OrchestratorClient {
  const token = tokenFrom(values);
  return createClient(
    OrchestratorService,
    createConnectTransport({
      baseUrl: apiUrl(values),
      httpVersion: "1.1",
      interceptors: token
        ? [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${token}`);
              return next(req);
            },
          ]
        : [],
    }),
  );
}

/**
 * An error of a call to the API, explained when nothing answers at its address: which address,
 * where it came from, and what to do instead (`hint`). Other errors are returned as they are.
 */
export function explainUnreachable(err: unknown, values: ApiValues, hint: string): unknown {
  if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) return err;
  const text = `${err.message} ${String((err.cause as { code?: string } | undefined)?.code ?? "")}`;
  if (!/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|ETIMEDOUT/.test(text)) return err;
  const from = values.api !== undefined ? "--api" : process.env.KANNON_API ? "KANNON_API" : "the default --api";
  return new Error(`no orchestrator answers at ${apiUrl(values)} (${from}; ${text.match(/E[A-Z]+/)?.[0] ?? "unreachable"}): ${hint}`);
}
