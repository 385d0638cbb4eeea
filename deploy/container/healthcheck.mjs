// The image's HEALTHCHECK: finds the running `kannon <role>` process and checks it by its role.
// orchestrator: GET http://127.0.0.1:<--port, 8080>/ (the dashboard; no token needed);
// target: GET http://127.0.0.1:<--port>/ping; driver (no port): its process is alive.
// Exit 0 healthy, 1 not (Docker's convention).
import { readdirSync, readFileSync } from "node:fs";

function kannonArgs() {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let argv;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    const at = argv.findIndex((a) => /(^|\/)kannon(\.[cm]?[jt]s)?$/.test(a));
    if (at >= 0 && argv[0] !== "/usr/bin/tini" && ["orchestrator", "driver", "target"].includes(argv[at + 1] ?? "")) return argv.slice(at + 1);
  }
  return undefined;
}

function flag(args, name, fallback) {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  return args[i].includes("=") ? args[i].split("=")[1] : args[i + 1];
}

const args = kannonArgs();
if (!args) {
  console.error("healthcheck: no kannon orchestrator, driver or target process is running");
  process.exit(1);
}
const [role] = args;
if (role === "driver") process.exit(0);
const port = flag(args, "port", role === "orchestrator" ? "8080" : undefined);
if (!port) {
  console.error("healthcheck: the target was started without --port: give it one to be checked");
  process.exit(1);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}${role === "target" ? "/ping" : "/"}`, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  process.exit(0);
} catch (err) {
  console.error(`healthcheck: kannon ${role} on port ${port}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
