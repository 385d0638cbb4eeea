/**
 * `npm run kafka -- <command>`: a development Kafka broker without Docker.
 *
 *   start [--port N] [--data DIR] [--heap MB] [--state FILE]
 *         starts a broker in the background, records it in the state file and prints its
 *         bootstrap address as the last line of stdout
 *   stop [--keep-data] [--state FILE]    stops it (and removes its data unless --keep-data)
 *   status [--state FILE]                prints what runs; exit 0 when up, 3 when not
 *   fetch                                fetches the Kafka jars into the cache, nothing else
 *
 * The state file defaults to `${KANNON_CACHE:-~/.cache/kannon}/broker.json`.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { canConnect, isKafkaProcess, startKafka, stopKafkaProcess } from "./kafka-broker.js";
import { cacheRoot, ensureKafkaJars } from "./kafka-jars.js";

interface BrokerState {
  pid: number;
  bootstrap: string;
  dataDir: string;
  logFile: string;
  startedAt: string;
}

const USAGE = `usage: npm run kafka -- <command> [options]
  start  [--port N] [--data DIR] [--heap MB] [--state FILE]   start a broker in the background; prints its bootstrap address last
         [--sasl-user NAME:PASSWORD ...] [--tls]              add an authenticated listener (SASL PLAIN, SCRAM-SHA-256/512; TLS)
  stop   [--keep-data] [--state FILE]                         stop it and remove its data (unless --keep-data)
  status [--state FILE]                                       show whether it runs (exit 3 when not)
  fetch                                                       only fetch the Kafka jars into the cache`;

const err = (m: string) => process.stderr.write(`${m}\n`);

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      data: { type: "string" },
      heap: { type: "string" },
      state: { type: "string" },
      "keep-data": { type: "boolean", default: false },
      "sasl-user": { type: "string", multiple: true },
      tls: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    (values.help ? console.log : err)(USAGE);
    return values.help ? 0 : 2;
  }
  const stateFile = resolve(values.state ?? join(cacheRoot(), "broker.json"));

  switch (command) {
    case "fetch": {
      const libs = await ensureKafkaJars({ log: err });
      console.log(libs);
      return 0;
    }
    case "start": {
      const current = readState(stateFile);
      if (current && isKafkaProcess(current.pid)) {
        err(`kafka: already running (pid ${current.pid}, data ${current.dataDir}); state in ${stateFile}`);
        console.log(current.bootstrap);
        return 0;
      }
      const port = values.port === undefined ? undefined : intArg("--port", values.port);
      const heapMb = values.heap === undefined ? undefined : intArg("--heap", values.heap);
      const broker = await startKafka({
        detached: true,
        log: err,
        ...(port !== undefined ? { port } : {}),
        ...(heapMb !== undefined ? { heapMb } : {}),
        ...(values.data !== undefined ? { dataDir: resolve(values.data) } : {}),
        ...(values["sasl-user"] ? { secure: { users: saslUsers(values["sasl-user"]), tls: values.tls } } : {}),
      });
      if (broker.secureBootstrap) {
        err(`kafka: authenticated listener (SASL PLAIN, SCRAM-SHA-256/512${values.tls ? " over TLS" : ""}) at ${broker.secureBootstrap}`);
        if (broker.caPem) {
          const ca = join(broker.dataDir, "tls", "ca.pem");
          await writeFile(ca, broker.caPem);
          err(`kafka: its certificate for --kafka-ca-file: ${ca}`);
        }
      }
      const state: BrokerState = {
        pid: broker.pid,
        bootstrap: broker.bootstrap,
        dataDir: broker.dataDir,
        logFile: broker.logFile,
        startedAt: new Date().toISOString(),
      };
      await mkdir(dirname(stateFile), { recursive: true });
      await writeFile(stateFile, `${JSON.stringify(state, null, 2)}\n`);
      err(`kafka: log ${broker.logFile}; state ${stateFile}; stop with: npm run kafka -- stop`);
      console.log(broker.bootstrap);
      return 0;
    }
    case "stop": {
      const current = readState(stateFile);
      if (!current) {
        err(`kafka: not running (no ${stateFile})`);
        return 0;
      }
      const started = Date.now();
      await stopKafkaProcess(current.pid, current.dataDir, { keepData: values["keep-data"] });
      await rm(stateFile, { force: true });
      err(
        `kafka: stopped pid ${current.pid} in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
          (values["keep-data"] ? `data kept in ${current.dataDir} (start again with --data ${current.dataDir})` : "data removed"),
      );
      return 0;
    }
    case "status": {
      const current = readState(stateFile);
      if (!current) {
        console.log("kafka: not running");
        return 3;
      }
      const alive = isKafkaProcess(current.pid);
      const port = Number(current.bootstrap.split(":").pop());
      const reachable = alive && (await canConnect(port));
      console.log(
        `kafka: ${reachable ? "running" : alive ? "starting or unhealthy (port closed)" : "not running (stale state)"}` +
          ` pid=${current.pid} bootstrap=${current.bootstrap} data=${current.dataDir} since=${current.startedAt}`,
      );
      return reachable ? 0 : 3;
    }
    default:
      err(`kafka: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

function readState(file: string): BrokerState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as BrokerState;
    if (typeof state.pid !== "number" || typeof state.bootstrap !== "string") throw new Error("missing pid or bootstrap");
    return state;
  } catch (e) {
    throw new Error(`kafka: unreadable state file ${file}: ${String(e)}`);
  }
}

/** `NAME:PASSWORD` pairs of --sasl-user. */
function saslUsers(pairs: string[]): Record<string, string> {
  const users: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf(":");
    if (i <= 0 || i === p.length - 1 || !/^[A-Za-z0-9._-]+$/.test(p.slice(0, i)))
      throw new Error(`kafka: --sasl-user must be NAME:PASSWORD (name of letters, digits, . _ -), got ${JSON.stringify(p.replace(/:.*/, ":…"))}`);
    users[p.slice(0, i)] = p.slice(i + 1);
  }
  return users;
}

function intArg(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > 65535 * 1000) throw new Error(`kafka: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
