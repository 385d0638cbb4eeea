/**
 * A development/test Apache Kafka broker without Docker: the official jars from Maven Central,
 * one KRaft node that is both broker and controller, on free loopback ports.
 *
 * The jars are fetched once into a cache outside the repository
 * (`${KANNON_CACHE:-~/.cache/kannon}/kafka-3.9.1/libs`); each broker gets its own data directory.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureKafkaJars, KAFKA_VERSION, run, tail } from "./kafka-jars.js";

/** Written into every data directory this module creates, so that stop() only ever removes its own. */
const MARKER = ".kannon-kafka";

/** Options of {@link startKafka}. */
export interface StartKafkaOptions {
  /** The client (PLAINTEXT) port; a free one when absent. */
  port?: number;
  /** The controller port; a free one when absent. */
  controllerPort?: number;
  /** Where the broker keeps its logs and config; a new temporary directory when absent. */
  dataDir?: string;
  /** The JVM heap, in MiB (default 384). */
  heapMb?: number;
  /** Progress messages (never the broker's own log, which goes to `${dataDir}/kafka.log`). */
  log?: (m: string) => void;
  /** Start the JVM in its own process group and let this process exit while it runs (the CLI). */
  detached?: boolean;
  /** How long to wait for the broker to be ready (default 60 s). */
  readyTimeoutMs?: number;
  /** The address to listen on and advertise (default 127.0.0.1), e.g. a network namespace's. */
  host?: string;
  /** A command the JVM is started under, e.g. `["ip", "netns", "exec", "kafka-host"]`. */
  execPrefix?: string[];
  /**
   * A second, authenticated listener: SASL (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512) for these
   * users, over TLS with a self-signed certificate for 127.0.0.1 when `tls`. The PLAINTEXT
   * listener stays (the broker's own traffic uses it).
   */
  secure?: { users: Record<string, string>; tls?: boolean; port?: number };
}

/** A running broker. */
export interface KafkaBroker {
  /** `127.0.0.1:PORT`, for clients. */
  bootstrap: string;
  pid: number;
  dataDir: string;
  /** The broker's own log. */
  logFile: string;
  /** The authenticated listener's `127.0.0.1:PORT`, when `secure` was asked for. */
  secureBootstrap?: string;
  /** The PEM certificate clients trust for the secure listener, when it uses TLS. */
  caPem?: string;
  /** SIGTERM, then SIGKILL after ~10 s; removes dataDir unless `keepData`. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/**
 * Starts one KRaft broker+controller on loopback and resolves once it is ready (its log says
 * `Kafka Server started` and the port accepts connections), or rejects with the log's tail.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const libs = await ensureKafkaJars({ log });
  const classpath = `${libs}/*`;

  const dataDir = resolve(options.dataDir ?? (await mkdtemp(join(tmpdir(), "kannon-kafka-"))));
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, MARKER), `Kafka ${KAFKA_VERSION} data directory created by Kannon's scripts/kafka-broker.ts\n`);
  const logDirs = join(dataDir, "data");
  const propsFile = join(dataDir, "server.properties");
  const log4jFile = join(dataDir, "log4j.properties");
  const logFile = join(dataDir, "kafka.log");

  const [port, controllerPort] = await freePorts(options.port, options.controllerPort);
  const secure = options.secure ? await secureListener(options.secure, dataDir) : undefined;
  const host = options.host ?? "127.0.0.1";
  await writeFile(
    propsFile,
    (serverProperties(port, controllerPort, logDirs) +
      (secure?.properties.replaceAll("{PORT}", String(port)).replaceAll("{CPORT}", String(controllerPort)) ?? "")).replaceAll("127.0.0.1", host),
  );
  await writeFile(log4jFile, LOG4J);
  const log4jArg = `-Dlog4j.configuration=file:${log4jFile}`;

  // Format the storage once per data directory; a kept directory restarts with its data.
  if (!existsSync(join(logDirs, "meta.properties"))) {
    const uuid = await run("java", ["-cp", classpath, log4jArg, "kafka.tools.StorageTool", "random-uuid"], 60_000);
    const clusterId = uuid.stdout.trim().split(/\s+/).pop() ?? "";
    if (uuid.code !== 0 || !/^[A-Za-z0-9_-]{22}$/.test(clusterId)) {
      throw new Error(`kafka: StorageTool random-uuid failed (exit ${uuid.code})\n${tail(uuid.output, 30)}`);
    }
    // SCRAM credentials of a KRaft cluster are written into its metadata at format time.
    const scram = Object.entries(options.secure?.users ?? {}).flatMap(([name, password]) =>
      ["SCRAM-SHA-256", "SCRAM-SHA-512"].flatMap((m) => ["--add-scram", `${m}=[name=${name},password=${password}]`]),
    );
    const format = await run(
      "java",
      ["-cp", classpath, log4jArg, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", propsFile, ...scram],
      60_000,
    );
    if (format.code !== 0) {
      throw new Error(`kafka: StorageTool format failed (exit ${format.code})\n${tail(format.output, 30)}`);
    }
  }

  const out = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    const prefix = options.execPrefix ?? [];
    child = spawn(
      prefix[0] ?? "java",
      [
        ...(prefix.length > 0 ? [...prefix.slice(1), "java"] : []),
        `-Xmx${options.heapMb ?? 384}m`,
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        log4jArg,
        "-cp",
        classpath,
        "kafka.Kafka",
        propsFile,
      ],
      { cwd: dataDir, stdio: ["ignore", out, out], detached: options.detached ?? false },
    );
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("kafka: could not spawn java (is it on the PATH?)");

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((res) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      res();
    });
    child.once("error", () => res());
  });
  // If this process dies first, do not leave an orphan JVM behind (unless asked to detach).
  const killOnExit = () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  };
  if (options.detached) child.unref();
  else process.once("exit", killOnExit);

  const bootstrap = `${host}:${port}`;
  let stopped: Promise<void> | undefined;
  const broker: KafkaBroker = {
    bootstrap,
    ...(secure ? { secureBootstrap: `${host}:${secure.port}` } : {}),
    ...(secure?.caPem ? { caPem: secure.caPem } : {}),
    pid,
    dataDir,
    logFile,
    stop(opts = {}) {
      stopped ??= (async () => {
        process.removeListener("exit", killOnExit);
        if (!exited) await terminate(pid, () => exited !== undefined, exit);
        if (!opts.keepData) await removeDataDir(dataDir);
      })();
      return stopped;
    },
  };

  const deadline = started + (options.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) {
        throw new Error(
          `kafka: the broker exited during startup (code ${exited.code}, signal ${exited.signal}); ${logFile}:\n${tail(readLog(logFile), 40)}`,
        );
      }
      if (readLog(logFile).includes("Kafka Server started") && (await canConnect(port, host)) && (!secure || (await canConnect(secure.port, host)))) break;
      if (Date.now() > deadline) {
        throw new Error(
          `kafka: the broker was not ready within ${((options.readyTimeoutMs ?? 60_000) / 1000).toFixed(0)} s; ${logFile}:\n${tail(readLog(logFile), 40)}`,
        );
      }
      await sleep(100);
    }
  } catch (err) {
    await broker.stop({ keepData: true });
    throw err;
  }
  log(`kafka: broker ready at ${bootstrap} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${pid}, data ${dataDir})`);
  return broker;
}

/**
 * Stops a broker started by another process (the CLI): SIGTERM, SIGKILL after `graceMs`, then
 * removes its data directory unless `keepData`. Refuses pids that are not a Kafka JVM.
 */
export async function stopKafkaProcess(pid: number, dataDir: string, opts: { keepData?: boolean; graceMs?: number } = {}): Promise<void> {
  // isKafkaProcess is false for a zombie too (empty cmdline), so an unreaped JVM counts as gone.
  if (isKafkaProcess(pid)) await terminate(pid, () => !isKafkaProcess(pid), undefined, opts.graceMs);
  if (!opts.keepData) await removeDataDir(dataDir);
}

/** True when `pid` is alive and runs `kafka.Kafka` (guards against a reused pid). */
export function isKafkaProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("kafka.Kafka");
  } catch {
    return true; // no /proc: trust the pid
  }
}

/** True when a TCP connection to 127.0.0.1:port succeeds. */
export function canConnect(port: number, host = "127.0.0.1", timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function terminate(pid: number, isGone: () => boolean, exit?: Promise<void>, graceMs = 10_000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      /* already gone */
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (!isGone() && Date.now() < deadline) {
    await (exit ? Promise.race([exit, sleep(100)]) : sleep(100));
  }
  if (!isGone()) {
    signal("SIGKILL");
    const killDeadline = Date.now() + 5_000;
    while (!isGone() && Date.now() < killDeadline) await sleep(50);
  }
}

async function removeDataDir(dataDir: string): Promise<void> {
  // Only directories this module created (they carry the marker) are ever removed.
  if (!existsSync(join(dataDir, MARKER))) return;
  await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * The properties of an authenticated listener named SECURE (appended to the others: later keys
 * win), and for TLS a self-signed PKCS12 keystore for 127.0.0.1 made with the JDK's keytool.
 */
async function secureListener(
  secure: NonNullable<StartKafkaOptions["secure"]>,
  dataDir: string,
): Promise<{ port: number; properties: string; caPem?: string }> {
  const [port] = await freePorts(secure.port, undefined);
  const protocol = secure.tls ? "SASL_SSL" : "SASL_PLAINTEXT";
  const quote = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const plainUsers = Object.entries(secure.users)
    .map(([u, p]) => `user_${u}="${quote(p)}"`)
    .join(" ");
  let tls = "";
  let caPem: string | undefined;
  if (secure.tls) {
    const dir = join(dataDir, "tls");
    await mkdir(dir, { recursive: true });
    const keystore = join(dir, "broker.p12");
    const pass = "kannon-dev-keystore";
    if (!existsSync(keystore)) {
      const gen = await run(
        "keytool",
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "30", "-storetype", "PKCS12",
          "-keystore", keystore, "-storepass", pass, "-keypass", pass, "-dname", "CN=127.0.0.1", "-ext", "SAN=IP:127.0.0.1,DNS:localhost"],
        60_000,
      );
      if (gen.code !== 0) throw new Error(`kafka: keytool could not make the TLS keystore (exit ${gen.code})\n${tail(gen.output, 20)}`);
    }
    const cert = await run("keytool", ["-exportcert", "-rfc", "-alias", "broker", "-keystore", keystore, "-storepass", pass], 60_000);
    if (cert.code !== 0) throw new Error(`kafka: keytool could not export the certificate (exit ${cert.code})\n${tail(cert.output, 20)}`);
    caPem = cert.stdout.slice(cert.stdout.indexOf("-----BEGIN CERTIFICATE-----"));
    tls = `listener.name.secure.ssl.keystore.type=PKCS12
listener.name.secure.ssl.keystore.location=${keystore}
listener.name.secure.ssl.keystore.password=${pass}
listener.name.secure.ssl.key.password=${pass}
`;
  }
  const properties = `
# An authenticated listener for security tests (scripts/kafka-broker.ts, option secure).
listeners=PLAINTEXT://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{CPORT},SECURE://127.0.0.1:${port}
advertised.listeners=PLAINTEXT://127.0.0.1:{PORT},SECURE://127.0.0.1:${port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:${protocol}
listener.name.secure.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.secure.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};
listener.name.secure.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
${tls}`;
  return { port, properties, ...(caPem ? { caPem } : {}) };
}

function serverProperties(port: number, controllerPort: number, logDirs: string): string {
  return `# Written by Kannon's scripts/kafka-broker.ts: one KRaft node, broker and controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${logDirs}
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
`;
}

/** The broker logs to stdout, which startKafka sends to `${dataDir}/kafka.log`. */
const LOG4J = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
`;

/** Free ports for the broker and the controller (the given ones are kept). */
export async function freePorts(broker: number | undefined, controller: number | undefined): Promise<[number, number]> {
  const wanted = [broker, controller];
  // Hold every probe socket open until all are chosen so the ports differ.
  const servers = await Promise.all(
    wanted.map(
      (w) =>
        new Promise<{ port: number; close: () => void }>((res, rej) => {
          if (w !== undefined) return res({ port: w, close: () => {} });
          const server = createServer();
          server.once("error", rej);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            if (address === null || typeof address === "string") return rej(new Error("no port"));
            res({ port: address.port, close: () => server.close() });
          });
        }),
    ),
  );
  for (const s of servers) s.close();
  return [servers[0]!.port, servers[1]!.port];
}

function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
