/**
 * The spec file both compare tests run twice (test/compare-runs.test.ts on the CLI,
 * test/dashboard-compare.test.ts in the browser): one scenario of three steps on the target's flow
 * API (login, search, other); the search step asks the target to answer `delayMs` later.
 */

/** The spec file's YAML. */
export const compareSpec = (name: string, delayMs: number) => `name: ${name}
avalanche: { concurrency: 2, requestsPerDriver: 20 }
reportIntervalMs: 500
scenarios:
  - name: flow
    steps:
      - name: login
        method: POST
        url: /login
        body: { user: "u1", password: "pw-u1" }
        checks: [{ name: ok, status: 200 }]
      - name: search
        url: "/search?q=a&delay=${delayMs}"
        checks: [{ name: ok, status: 200 }]
      - name: other
        url: "/search?q=b"
`;
