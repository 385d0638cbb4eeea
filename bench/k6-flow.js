// The scenario bench's 3-step flow as a k6 script: the same requests and checks as flowScenarios()
// in flow.ts (keep the two alike). Run by bench/k6.ts with the environment:
//   BASE (http://127.0.0.1:PORT), CSV (path of the users CSV), VUS, DURATION (e.g. "10s"), SUMMARY (a JSON file to write).
// Each iteration takes the next CSV row in order (the test's iteration number), as Kannon's sequential data file does.
import http from "k6/http";
import { check } from "k6";
import exec from "k6/execution";
import { SharedArray } from "k6/data";

const rows = new SharedArray("users", () => {
  const lines = open(__ENV.CSV).split("\n").filter((l) => l !== "");
  const header = lines[0].split(",");
  return lines.slice(1).map((line) => {
    const cells = line.split(",");
    const row = {};
    header.forEach((name, i) => (row[name] = cells[i]));
    return row;
  });
});

export const options = {
  scenarios: { flow: { executor: "constant-vus", vus: Number(__ENV.VUS), duration: __ENV.DURATION } },
  summaryTrendStats: ["med", "p(99)"],
};

const BASE = __ENV.BASE;
const JSON_HEADERS = { "content-type": "application/json" };

export default function () {
  const row = rows[exec.scenario.iterationInTest % rows.length];
  const login = http.post(`${BASE}/login`, `{"user":"${row.user}","password":"${row.password}"}`, { headers: JSON_HEADERS });
  check(login, {
    "login: status 200": (r) => r.status === 200,
    "login: has token": (r) => r.json("token") !== undefined,
  });
  const token = login.json("token");
  const auth = { authorization: `Bearer ${token}` };
  const item = http.get(`${BASE}/items/${row.item}`, { headers: auth });
  check(item, {
    "item: status 200": (r) => r.status === 200,
    "item: has a price": (r) => r.json("price") > 0,
  });
  const cart = http.post(`${BASE}/cart`, `{"itemId":"${row.item}","qty":1}`, { headers: { ...JSON_HEADERS, ...auth } });
  check(cart, {
    "cart: status 200": (r) => r.status === 200,
    "cart: has a total": (r) => r.json("total") !== undefined,
  });
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
