/**
 * Step lists against target/flow-api.ts shared by the scenario tests: the driver's load-part tests
 * (driver/scenario/scenario-load.test.ts) and the fleet cases (test/scenario-cases.ts).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { CaptureMissing, HeaderOp, JsonPathOp, type StepSchema } from "../gen/kannon/v1/scenario_pb.js";

type StepInit = MessageInitShape<typeof StepSchema>;

/** A check that the status is 200. */
export const status200 = { name: "status 200", kind: { case: "status" as const, value: { codes: [200] } } };

const bearer = { authorization: "Bearer {{token}}" };

/**
 * Log in → item → cart, reading a row `id,user`: the token captured from /login (a missing one
 * aborts the iteration) reaches the later steps; the item step fails on purpose for ids that are
 * multiples of 7 (`?fail=7`) and aborts its iteration.
 */
export const tokenFlowSteps: StepInit[] = [
  {
    name: "login",
    method: "POST",
    url: "/login",
    headers: { "content-type": "application/json", "x-row-id": "{{row.id}}" },
    body: '{"user":"{{row.user}}","password":"pw-{{row.user}}"}',
    captures: [{ name: "token", source: { case: "jsonPath", value: "$.token" } }],
    onCaptureMissing: CaptureMissing.ABORT_ITERATION,
    checks: [status200, { name: "has token", kind: { case: "jsonPath", value: { path: "$.token", op: JsonPathOp.EXISTS } } }],
  },
  {
    name: "item",
    url: "/items/{{row.id}}?fail=7",
    headers: bearer,
    abortIterationOnFail: true,
    checks: [
      status200,
      { name: "json", kind: { case: "header", value: { name: "content-type", op: HeaderOp.MATCHES, value: "^application/json" } } },
      { name: "priced", kind: { case: "jsonPath", value: { path: "$.price", op: JsonPathOp.GREATER, value: "0" } } },
    ],
  },
  {
    name: "cart",
    method: "POST",
    url: "/cart",
    headers: { ...bearer, "content-type": "application/json" },
    body: '{"itemId": {{row.id}}, "qty": 2}',
    checks: [status200, { name: "two", kind: { case: "bodyContains", value: '"qty":2' } }],
  },
];

/**
 * The check counts, `[name, passed, failed]` per check, of the login, item and cart steps that
 * {@link tokenFlowSteps} must count over `rows` rows when `failing` of their ids are multiples of 7
 * (the target answers those items 500): every login passes, the failing items fail `status 200` and
 * `priced` (their JSON still has the right content type), and only the others reach the cart.
 */
export function tokenFlowChecks(rows: number, failing: number): [string, number, number][][] {
  return [
    [
      ["status 200", rows, 0],
      ["has token", rows, 0],
    ],
    [
      ["status 200", rows - failing, failing],
      ["json", rows, 0],
      ["priced", rows - failing, failing],
    ],
    [
      ["status 200", rows - failing, 0],
      ["two", rows - failing, 0],
    ],
  ];
}
