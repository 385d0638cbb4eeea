/**
 * The deployment recipes of deploy/: the Helm chart rendered by a real `helm` (lint and template),
 * the systemd units by `systemd-analyze verify`, the compose file and the Dockerfile read as data,
 * and the settings they pass checked against the CLI's real variables. A missing Kafka setting in a
 * container or unit makes `kannon orchestrator` and `kannon driver` exit 2 at once, naming KANNON_KAFKA.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ensureGoTool } from "../scripts/go-tool.js";
import { runKannon } from "./processes.js";

const root = join(import.meta.dirname, "..");
const chart = join(root, "deploy", "helm", "kannon");
const HELM_VERSION = "v4.3.2";
const run = promisify(execFile);

/** Every `KANNON_*` variable the long-running roles read (cli/serve-commands.ts and the secrets they use). */
function cliVariables(): string[] {
  const names = new Set<string>();
  for (const f of ["serve-commands.ts", "secrets.ts"])
    for (const m of readFileSync(join(root, "cli", f), "utf8").matchAll(/KANNON_[A-Z_]+/g)) names.add(m[0]);
  return [...names].sort();
}

/** The helm binary (2–4 min to build once when it is nowhere). Throws, never skips, without Go. */
const helmBinary = () => ensureGoTool({ binary: "helm", pkg: "helm.sh/helm/v4/cmd/helm", version: HELM_VERSION, about: "2–4 min" }, (m) => console.log(m));

type Manifest = { kind: string; metadata: { name: string }; spec: Record<string, any> };

describe("the Helm chart", () => {
  let helm: string;
  let scratch: string;
  const values = {
    kafka: { bootstrap: "kafka.example:9092", topicPrefix: "fleet-a", tls: { enabled: true, caSecret: "kafka-ca" }, sasl: { mechanism: "scram-sha-512", existingSecret: "kafka-login" } },
    token: { existingSecret: "kannon-token" },
    driver: { replicas: 5, resources: { limits: { cpu: "1500m", memory: "512Mi" } } },
    target: { enabled: true },
    serviceMonitor: { enabled: true },
  };

  beforeAll(() => {
    helm = helmBinary();
    scratch = mkdtempSync(join(tmpdir(), "kannon-helm-"));
    writeFileSync(join(scratch, "values.json"), JSON.stringify(values));
  }, 660_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  async function template(args: string[]): Promise<Manifest[]> {
    const { stdout } = await run(helm, ["template", "k", chart, ...args]);
    return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest).filter(Boolean);
  }

  it("lints clean", async () => {
    const { stdout } = await run(helm, ["lint", "--strict", chart, "-f", join(scratch, "values.json")]);
    expect(stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("renders the roles, volume, probes and secrets, and no latest tag", async () => {
    const docs = await template(["-f", join(scratch, "values.json")]);
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    expect(docs.some((d) => d.kind === "CustomResourceDefinition")).toBe(false);

    const [sts] = byKind("StatefulSet");
    const orch = sts!.spec.template.spec.containers[0];
    expect(sts!.spec.replicas).toBe(1);
    expect(orch.args.slice(0, 3)).toEqual(["orchestrator", "--host", "0.0.0.0"]);
    expect(sts!.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(orch.volumeMounts).toContainEqual({ name: "data", mountPath: "/var/lib/kannon" });
    expect(orch.readinessProbe.httpGet).toEqual({ path: "/", port: "http" });
    expect(orch.livenessProbe).toBeDefined();
    const env = Object.fromEntries(orch.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.KANNON_KAFKA).toBe("kafka.example:9092");
    expect(env.KANNON_TOPIC_PREFIX).toBe("fleet-a");
    expect(env.KANNON_KAFKA_TLS).toBe("1");
    expect(env.KANNON_KAFKA_CA_FILE).toBe("/etc/kannon/kafka-ca/ca.crt");
    expect(env.KANNON_TOKEN).toEqual({ secretKeyRef: { name: "kannon-token", key: "token" } });
    expect(env.KANNON_KAFKA_PASSWORD).toEqual({ secretKeyRef: { name: "kafka-login", key: "password" } });
    expect(sts!.spec.template.spec.volumes).toContainEqual({ name: "kafka-ca", secret: { secretName: "kafka-ca" } });
    expect(byKind("Service").map((s) => s.metadata.name)).toContain("k-kannon-orchestrator");

    const driverDeployment = byKind("Deployment").find((d) => d.metadata.name === "k-kannon-driver")!;
    const driver = driverDeployment.spec.template.spec.containers[0];
    expect(driverDeployment.spec.replicas).toBe(5);
    expect(driver.args).toEqual(["driver", "--id", "$(POD_NAME)", "--threads", "$(CPU_LIMIT)"]);
    const cpu = driver.env.find((e: any) => e.name === "CPU_LIMIT");
    expect(cpu.valueFrom.resourceFieldRef).toEqual({ containerName: "driver", resource: "limits.cpu", divisor: "1" });
    expect(driver.env.find((e: any) => e.name === "KANNON_KAFKA_USERNAME").valueFrom.secretKeyRef.name).toBe("kafka-login");
    expect(driver.env.some((e: any) => e.name === "KANNON_TOKEN")).toBe(false);

    const target = byKind("Deployment").find((d) => d.metadata.name === "k-kannon-target")!.spec.template.spec.containers[0];
    expect(target.args[0]).toBe("target");
    expect(target.readinessProbe.httpGet.path).toBe("/ping");

    const [monitor] = byKind("ServiceMonitor");
    expect(monitor!.spec.endpoints[0]).toMatchObject({ path: "/metrics", authorization: { credentials: { name: "kannon-token" } } });

    const containers = [...byKind("StatefulSet"), ...byKind("Deployment")].flatMap((d) => d.spec.template.spec.containers);
    expect(containers).toHaveLength(3);
    for (const c of containers) {
      expect(c.image).toMatch(/^kannon:\d+\.\d+\.\d+$/);
      expect(c.resources.limits.cpu).toBeDefined();
    }
  });

  it("refuses a missing bootstrap, token Secret or CPU limit, and a latest tag", async () => {
    const without = async (set: string[], message: string) =>
      expect(run(helm, ["template", "k", chart, "-f", join(scratch, "values.json"), ...set.flatMap((s) => ["--set", s])])).rejects.toThrow(message);
    await without(["kafka.bootstrap="], "kafka.bootstrap is required");
    await without(["token.existingSecret="], "token.existingSecret is required");
    await without(["driver.resources.limits.cpu=null"], "driver.resources.limits.cpu is required");
    await without(["image.tag=latest"], "image.tag must name a version, not latest");
  });
});

/** compose-go's validator (test/fixtures/compose-config), built once into the cache from the Go module proxy. */
function composeConfigBinary(): string {
  const out = join(process.env.KANNON_CACHE ?? join(homedir(), ".cache", "kannon"), "compose-config-v2.9.0", "compose-config");
  if (existsSync(out)) return out;
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    throw new Error("Go is not installed: the compose file is validated with compose-go built from the Go module proxy; install Go and rerun");
  }
  execFileSync("go", ["build", "-o", out, "."], {
    cwd: join(root, "test", "fixtures", "compose-config"),
    env: { ...process.env, GOFLAGS: "-mod=mod" },
    stdio: "inherit",
    timeout: 600_000,
  });
  return out;
}

describe("the compose file and the image", () => {
  const compose = parse(readFileSync(join(root, "deploy", "compose.yaml"), "utf8"), { merge: true }) as { services: Record<string, any> };
  const dockerfile = readFileSync(join(root, "deploy", "container", "Dockerfile"), "utf8");

  it("runs every role of one image, Kafka in KRaft mode, scalable drivers, every CLI variable set", () => {
    const { kafka, orchestrator, driver, target } = compose.services;
    expect(kafka.image).toMatch(/^apache\/kafka:\d+\.\d+\.\d+$/);
    expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe("broker,controller");
    expect([orchestrator.command[0], driver.command[0], target.command[0]]).toEqual(["orchestrator", "driver", "target"]);
    expect(new Set([orchestrator.image, driver.image, target.image]).size).toBe(1);
    expect(orchestrator.volumes).toEqual(["orchestrator-data:/var/lib/kannon"]);
    expect(driver.container_name).toBeUndefined();
    expect(driver.ports).toBeUndefined();
    const given = new Set(Object.keys({ ...orchestrator.environment, ...driver.environment }));
    expect(cliVariables().filter((v) => !given.has(v))).toEqual([]);
    expect([...given].filter((v) => !cliVariables().includes(v))).toEqual([]);
  });

  it("is valid for compose (compose-go, the library of docker compose) and refuses to start without KANNON_TOKEN", async () => {
    const validator = composeConfigBinary();
    const file = join(root, "deploy", "compose.yaml");
    const { stdout } = await run(validator, [file], { env: { ...process.env, KANNON_TOKEN: "t0ken" } });
    const resolved = parse(stdout) as { services: Record<string, { environment?: Record<string, string> }> };
    expect(Object.keys(resolved.services).sort()).toEqual(["driver", "kafka", "orchestrator", "target"]);
    expect(resolved.services.orchestrator!.environment).toMatchObject({ KANNON_KAFKA: "kafka:9092", KANNON_TOKEN: "t0ken", KANNON_DATA: "/var/lib/kannon" });
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "KANNON_TOKEN"));
    await expect(run(validator, [file], { env })).rejects.toThrow("required variable KANNON_TOKEN is missing a value");
  }, 660_000);

  it("builds a pinned slim Node 20 image that runs as a user, with a volume, a health check and an init", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/m);
    expect(dockerfile).not.toMatch(/:latest\b/);
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/var\/lib\/kannon"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["node", "\/opt\/kannon\/healthcheck\.mjs"\]$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "kannon"\]$/m);
  });
});

describe("the systemd units", () => {
  it("pass systemd-analyze verify", async () => {
    // Fails, never skips, where systemd-analyze is missing. kannon is not installed on this machine:
    // the check runs on copies whose ExecStart names /usr/bin/env instead (verify wants an executable).
    const dir = mkdtempSync(join(tmpdir(), "kannon-units-"));
    try {
      for (const unit of ["kannon-orchestrator.service", "kannon-driver@.service"]) {
        const text = readFileSync(join(root, "deploy", "systemd", unit), "utf8");
        expect(text).toMatch(/^EnvironmentFile=\/etc\/kannon\/\w+\.env$/m);
        expect(text).toMatch(/^Environment=KANNON_KAFKA=$/m);
        writeFileSync(join(dir, unit.replace("@.", "@1.")), text.replaceAll("/usr/bin/kannon", "/usr/bin/env"));
      }
      const { stderr } = await run("systemd-analyze", ["verify", join(dir, "kannon-orchestrator.service"), join(dir, "kannon-driver@1.service")]);
      expect(stderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a missing Kafka setting", () => {
  it("stops the orchestrator and the driver at once, naming KANNON_KAFKA", async () => {
    // The image and the units declare KANNON_KAFKA empty: that is the state of a deployment that forgot it.
    const data = mkdtempSync(join(tmpdir(), "kannon-nokafka-"));
    try {
      const orchestrator = await runKannon(["orchestrator", "--data", data], { KANNON_KAFKA: "" });
      expect(orchestrator).toMatchObject({ code: 2 });
      expect(orchestrator.out).toContain("KANNON_KAFKA is empty: set KANNON_KAFKA");
      const driver = await runKannon(["driver"], { KANNON_KAFKA: "" });
      expect(driver).toMatchObject({ code: 2 });
      expect(driver.out).toContain("KANNON_KAFKA is empty: set KANNON_KAFKA");
      const unset = await runKannon(["driver"], { KANNON_KAFKA: undefined });
      expect(unset).toMatchObject({ code: 2 });
      expect(unset.out).toContain("(or KANNON_KAFKA) is required");
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
