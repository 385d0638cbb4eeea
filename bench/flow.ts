/**
 * The scenario bench's flow, written once for every side that runs it: nginx's fixed-JSON answers
 * (login, item, cart), the CSV of users, and the 3-step flow as Kannon scenarios (a CSV row, a
 * captured token, two checks per step). `k6-flow.js` is the same flow as a k6 script; keep the two
 * alike (paths, headers, bodies, checks).
 */
import { create } from "@bufbuild/protobuf";
import {
  CheckSchema,
  DataFileSchema,
  DataFormat,
  DataOrder,
  DataSplit,
  JsonPathCheckSchema,
  JsonPathOp,
  OnExhausted,
  ScenarioSchema,
  StatusCheckSchema,
  StepSchema,
  type Check,
  type DataFile,
  type Scenario,
} from "../gen/kannon/v1/scenario_pb.js";
import { passwordFor } from "../target/flow-api.js";

/** The token nginx's login hands out, and the only one its item and cart locations accept. */
export const FLOW_TOKEN = "bench-token-0123456789abcdef";

/** The data file's name in the spec. */
export const FLOW_DATA = "users";

const LOGIN_JSON = JSON.stringify({ token: FLOW_TOKEN, user: "bench" });
const ITEM_JSON = JSON.stringify({ id: "42", name: "item 42", price: 12.34 });
const CART_JSON = JSON.stringify({ user: "bench", itemId: "42", qty: 1, total: 12.34 });
const UNAUTHORIZED_JSON = JSON.stringify({ error: "unauthorized" });

/** A location whose answer is fixed JSON, refused with 401 unless the bearer token is FLOW_TOKEN when `auth`. */
function jsonLocation(match: string, json: string, auth: boolean): string {
  const guard = auth ? `if ($http_authorization != "Bearer ${FLOW_TOKEN}") { return 401 '${UNAUTHORIZED_JSON}'; } ` : "";
  return `    location ${match} { default_type application/json; ${guard}return 200 '${json}'; }`;
}

/** nginx `location` blocks of the flow: POST /login, GET /items/ID and POST /cart answer fixed JSON (bodies are discarded). */
export const FLOW_NGINX_LOCATIONS = [
  jsonLocation("= /login", LOGIN_JSON, false),
  jsonLocation("/items/", ITEM_JSON, true),
  jsonLocation("= /cart", CART_JSON, true),
].join("\n");

/**
 * A CSV of `rows` users: `id,user,password,item` (about 50 bytes a row for large counts). The
 * passwords are those Kannon's own target accepts (target/flow-api.ts passwordFor), so the flow
 * runs against it too.
 */
export function flowCsv(rows: number): string {
  const lines = ["id,user,password,item"];
  for (let i = 0; i < rows; i++) {
    const user = `user-${String(i).padStart(7, "0")}@b.io`;
    lines.push(`${i},${user},${passwordFor(user)},${i % 1000}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The CSV as a data file of the spec (exclusive split, sequential, wrap). */
export function flowDataFile(content: string): DataFile {
  return create(DataFileSchema, {
    name: FLOW_DATA,
    format: DataFormat.CSV,
    content,
    order: DataOrder.SEQUENTIAL,
    split: DataSplit.EXCLUSIVE,
    onExhausted: OnExhausted.WRAP,
    source: "bench/flow.ts",
  });
}

const status200 = (): Check => create(CheckSchema, { name: "status 200", kind: { case: "status", value: create(StatusCheckSchema, { codes: [200] }) } });
const jsonCheck = (name: string, path: string, op: JsonPathOp, value = ""): Check =>
  create(CheckSchema, { name, kind: { case: "jsonPath", value: create(JsonPathCheckSchema, { path, op, value }) } });

/**
 * The 3-step flow: log in with the row's user (capture `$.token`), get the row's item with the
 * token, put it in the cart with the token; each step checks its status and one JSON value.
 */
export function flowScenarios(): Scenario[] {
  const json = { "content-type": "application/json" };
  const bearer = { authorization: "Bearer {{token}}" };
  return [
    create(ScenarioSchema, {
      name: "shop",
      weight: 1,
      dataFile: FLOW_DATA,
      steps: [
        create(StepSchema, {
          name: "login",
          method: "POST",
          url: "/login",
          headers: json,
          body: '{"user":"{{row.user}}","password":"{{row.password}}"}',
          captures: [{ name: "token", source: { case: "jsonPath", value: "$.token" } }],
          checks: [status200(), jsonCheck("has token", "$.token", JsonPathOp.EXISTS)],
        }),
        create(StepSchema, {
          name: "item",
          method: "GET",
          url: "/items/{{row.item}}",
          headers: bearer,
          checks: [status200(), jsonCheck("has a price", "$.price", JsonPathOp.GREATER, "0")],
        }),
        create(StepSchema, {
          name: "cart",
          method: "POST",
          url: "/cart",
          headers: { ...json, ...bearer },
          body: '{"itemId":"{{row.item}}","qty":1}',
          checks: [status200(), jsonCheck("has a total", "$.total", JsonPathOp.EXISTS)],
        }),
      ],
    }),
  ];
}

/** One step with no template, capture or check: `GET path`, which should keep the avalanche fast path. */
export function oneStepScenarios(path: string): Scenario[] {
  return [create(ScenarioSchema, { name: "one", weight: 1, steps: [create(StepSchema, { name: "get", method: "GET", url: path })] })];
}
