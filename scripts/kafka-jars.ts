/**
 * The Kafka jars: fetched once with Maven from Maven Central into a cache outside the repository
 * (`${KANNON_CACHE:-~/.cache/kannon}/kafka-3.9.1/libs`), never committed.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const KAFKA_VERSION = "3.9.1";

/** The POM that lists the broker's artifacts (beside this file). */
const POM = fileURLToPath(new URL("./kafka/pom.xml", import.meta.url));

/** `${KANNON_CACHE:-~/.cache/kannon}`. */
export function cacheRoot(): string {
  return resolve(process.env.KANNON_CACHE || join(homedir(), ".cache", "kannon"));
}

/** Where the jars live once fetched. */
export function kafkaLibsDir(): string {
  return join(cacheRoot(), `kafka-${KAFKA_VERSION}`, "libs");
}

let fetching: Promise<string> | undefined;

/**
 * Fetches the Kafka jars once (Maven, into the cache outside the repository) and returns the libs
 * directory. The jars land in a temporary directory that is renamed into place only when the
 * fetch succeeded, so a half-fetch is never taken as done.
 */
export function ensureKafkaJars(options: { log?: (m: string) => void } = {}): Promise<string> {
  fetching ??= fetchJars(options.log ?? (() => {})).finally(() => {
    fetching = undefined;
  });
  return fetching;
}

async function fetchJars(log: (m: string) => void): Promise<string> {
  const libs = kafkaLibsDir();
  if (await isCompleteLibs(libs)) return libs;
  const parent = dirname(libs);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `libs.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const started = Date.now();
  log(`kafka: fetching Apache Kafka ${KAFKA_VERSION} jars into ${libs} (once)...`);
  try {
    const result = await run("mvn", ["-q", "-B", "-f", POM, "dependency:copy-dependencies", `-DoutputDirectory=${tmp}`], 15 * 60_000);
    if (result.code !== 0) {
      throw new Error(
        `kafka: could not fetch the Kafka jars: mvn exited with ${result.code}\n${tail(result.output, 40)}`,
      );
    }
    if (!(await isCompleteLibs(tmp))) {
      throw new Error(`kafka: mvn finished but ${tmp} does not hold kafka_2.13-${KAFKA_VERSION}.jar\n${tail(result.output, 40)}`);
    }
    try {
      await rename(tmp, libs);
    } catch (err) {
      // Another process finished first: its copy is as good as ours.
      if (!(await isCompleteLibs(libs))) throw err;
    }
    log(`kafka: jars ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return libs;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function isCompleteLibs(dir: string): Promise<boolean> {
  try {
    const names = await readdir(dir);
    return names.includes(`kafka_2.13-${KAFKA_VERSION}.jar`) && names.includes("reload4j-1.2.25.jar");
  } catch {
    return false;
  }
}

/** What a finished command printed. */
export interface RunResult {
  code: number | null;
  stdout: string;
  /** stdout and stderr interleaved. */
  output: string;
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let output = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d;
      output += d;
    });
    child.stderr!.on("data", (d: Buffer) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      rej(new Error(`kafka: could not run ${cmd}: ${err.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      res({ code, stdout, output });
    });
  });
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
